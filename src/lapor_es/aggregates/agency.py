"""The agency directory: who can receive complaints, and how they nest.

The national desk sits at the root; ministries, institutions and local governments hang
directly below it; units hang below an agency (or below another unit).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from lapor_es.aggregates.chain import GENESIS, directory_payload, payload_hash
from lapor_es.aggregates.errors import NotAuthorized, RuleViolation
from lapor_es.aggregates.values import TOP_LEVEL_AGENCY_KINDS, Actor, AgencyKind, AgencyRef, Role

AGENCY_NAMESPACE = uuid5(NAMESPACE_URL, "https://lapor.go.id/ns/agency")
AGENCY_CODE = re.compile(r"^[A-Z0-9][A-Z0-9.-]{1,63}$")


def agency_id_for(code: str) -> UUID:
    return uuid5(AGENCY_NAMESPACE, code)


def check_placement(code: str, kind: AgencyKind, parent: AgencyRef | None) -> None:
    """Tiered directory rule: where an agency of this kind may sit."""
    if kind == AgencyKind.NATIONAL_DESK:
        if parent is not None:
            raise RuleViolation("the national desk is the root and has no parent", code=code)
        return
    if parent is None:
        raise RuleViolation(f"a {kind} needs a parent agency", code=code)
    if kind in TOP_LEVEL_AGENCY_KINDS and parent.kind != AgencyKind.NATIONAL_DESK:
        raise RuleViolation(
            f"a {kind} hangs directly below the national desk, not below {parent.code}",
            code=code,
            parent=parent.code,
        )
    if kind == AgencyKind.UNIT and parent.kind == AgencyKind.NATIONAL_DESK:
        raise RuleViolation("a unit belongs to an agency, not to the national desk", code=code)


# Directory events stored before the directory was hash-chained (the release of issue 9)
# have no hashes: their upcaster gives them this in place of prev_hash and event_hash. They
# prove nothing, so the audit counts them as not tamper-evident and checks the chain from
# the agency's next event on (which links to this value).
UNCHAINED = "stored-before-directory-chain"


def require_directory_admin(actor: Actor) -> None:
    if actor.role not in (Role.NATIONAL_ADMIN, Role.SYSTEM):
        raise NotAuthorized("only the national desk maintains the agency directory")


class Agency(Aggregate):
    class Event(Aggregate.Event):
        """Hash-chained like complaint events (chain.py): the directory decides who may act
        and where complaints go, so an audit must see any rewrite of it."""

        actor_id: str
        at: datetime
        prev_hash: str
        event_hash: str

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            state.setdefault("prev_hash", UNCHAINED)
            state.setdefault("event_hash", UNCHAINED)

        def mutate(self, aggregate: Any) -> Any:
            agency: Any = super().mutate(aggregate)
            agency.last_hash = self.event_hash
            return agency

    class Registered(Event, Aggregate.Created):
        class_version = 2
        code: str
        name: str
        kind: str
        parent: str | None
        region: str | None

    class Updated(Event):
        class_version = 2
        name: str
        region: str | None

        def apply(self, aggregate: Any) -> None:
            aggregate.name = self.name
            aggregate.region = self.region

    @staticmethod
    def create_id(code: str, **_: Any) -> UUID:
        return agency_id_for(code)

    @classmethod
    def register(
        cls,
        actor: Actor,
        at: datetime,
        *,
        code: str,
        name: str,
        kind: AgencyKind,
        parent: AgencyRef | None,
        region: str | None,
    ) -> Agency:
        require_directory_admin(actor)
        check_placement(code, kind, parent)
        fields: dict[str, Any] = {
            "actor_id": actor.id,
            "at": at,
            "prev_hash": GENESIS,
            "code": code,
            "name": name,
            "kind": str(kind),
            "parent": parent.code if parent else None,
            "region": region,
        }
        payload = directory_payload("Registered", agency_id_for(code), 1, fields)
        return cls(**fields, event_hash=payload_hash(payload))

    @event(Registered)
    def __init__(
        self,
        *,
        actor_id: str,
        at: datetime,
        prev_hash: str,
        event_hash: str,
        code: str,
        name: str,
        kind: str,
        parent: str | None,
        region: str | None,
    ) -> None:
        self.last_hash = event_hash
        self.code = code
        self.name = name
        self.kind = kind
        self.parent = parent
        self.region = region
        self.registered_at = at

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """Every event after the first is chained to the last one's hash."""
        fields = {**kwargs, "prev_hash": self.last_hash}
        payload = directory_payload(event_class.__name__, self.id, self.version + 1, fields)
        super().trigger_event(event_class, **fields, event_hash=payload_hash(payload))

    def update(self, actor: Actor, at: datetime, *, name: str, region: str | None) -> bool:
        """Rename or re-region; returns False when nothing changes (a re-load is a no-op)."""
        require_directory_admin(actor)
        if (name, region) == (self.name, self.region):
            return False
        self.trigger_event(self.Updated, actor_id=actor.id, at=at, name=name, region=region)
        return True

    @property
    def ref(self) -> AgencyRef:
        return AgencyRef(code=self.code, parent=self.parent, kind=AgencyKind(self.kind))
