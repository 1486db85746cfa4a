"""What the door needs, built once by `lapor_es.bootstrap.door(settings)` and handed to
`create_app`: the service layer, the auth stores, the read-model database, the directory."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from threading import Lock

from sqlalchemy import Engine

from lapor_es.api.metrics import Metrics
from lapor_es.application import LaporApp, utc_now
from lapor_es.auth.access import AccessCodeStore
from lapor_es.auth.principals import PrincipalStore
from lapor_es.config import Settings
from lapor_es.feeds.webhook_store import WebhookStore

Clock = Callable[[], datetime]
DESK = "LAPOR"  # the national desk's code in the directory (application.NATIONAL_DESK)


class DirectoryScope:
    """`auth.policy.AgencyScope` over the agency directory: is `code` `root` or below it?

    An agency's parent never changes (application.register_agencies refuses a move), so
    the parent of each code is remembered once it has been read."""

    def __init__(self, lapor: LaporApp) -> None:
        self.lapor = lapor
        self._parents: dict[str, str | None] = {}
        self._lock = Lock()

    def parent(self, code: str) -> str | None:
        with self._lock:
            if code in self._parents:
                return self._parents[code]
        from lapor_es.aggregates import DomainError

        try:
            parent = self.lapor.agency(code).parent
        except DomainError:
            return None  # unknown codes are below nothing (and not remembered)
        with self._lock:
            self._parents[code] = parent
        return parent

    def exists(self, code: str) -> bool:
        from lapor_es.aggregates import DomainError

        try:
            self.lapor.agency(code)
        except DomainError:
            return False
        return True

    def within(self, code: str, root: str) -> bool:
        seen: set[str] = set()
        current: str | None = code
        while current is not None and current not in seen:
            if current == root:
                return True
            seen.add(current)
            current = self.parent(current)
        return False

    def top_level(self) -> frozenset[str]:
        """Codes of the agencies right under the desk (parent LAPOR, or none): a parent
        escalation from them reaches the desk. Read fresh: agencies can be added."""
        return frozenset(a.code for a in self.lapor.agencies() if a.parent in (None, DESK))


@dataclass
class Door:
    settings: Settings
    lapor: LaporApp
    principals: PrincipalStore
    access_codes: AccessCodeStore
    read_models: Engine  # the projection database the read routes query
    scope: DirectoryScope
    metrics: Metrics = field(default_factory=Metrics)
    event_store: Engine | None = None  # auth tables' database; None for an in-memory app
    clock: Clock = utc_now
    webhooks: WebhookStore | None = None  # endpoints of agencies (docs/webhooks.md)

    def close(self) -> None:
        self.lapor.close()
        self.read_models.dispose()
        if self.event_store is not None:
            self.event_store.dispose()
