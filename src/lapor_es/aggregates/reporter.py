"""The Reporter aggregate: a pseudonymous citizen and the complaints they filed.

It holds no personal data at all: the identity lives encrypted in each complaint, under
a key kept outside the event store. It exists so that erasure can find every complaint.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from lapor_es.aggregates.errors import AlreadyRecorded, NotAuthorized, RuleViolation
from lapor_es.aggregates.values import Actor, Role

REPORTER_NAMESPACE = uuid5(NAMESPACE_URL, "https://lapor.go.id/ns/reporter")


def reporter_id_for(reporter_ref: str) -> UUID:
    return uuid5(REPORTER_NAMESPACE, reporter_ref)


class Reporter(Aggregate):
    class Registered(Aggregate.Created):
        class_version = 1
        reporter_ref: str
        at: datetime

    class ComplaintLinked(Aggregate.Event):
        class_version = 1
        complaint_id: UUID

    class Erased(Aggregate.Event):
        class_version = 1
        actor_id: str
        reason: str
        at: datetime

        def apply(self, aggregate: Any) -> None:
            aggregate.erased_at = self.at
            aggregate.erased_through = len(aggregate.complaint_ids)

    @staticmethod
    def create_id(reporter_ref: str, **_: Any) -> UUID:
        return reporter_id_for(reporter_ref)

    @event(Registered)
    def __init__(self, *, reporter_ref: str, at: datetime) -> None:
        self.reporter_ref = reporter_ref
        self.complaint_ids: list[UUID] = []
        self.erased_at: datetime | None = None
        self.erased_through = 0  # complaints filed before the last erasure

    @event(ComplaintLinked)
    def link(self, complaint_id: UUID) -> None:
        self.complaint_ids.append(complaint_id)

    def erase(self, actor: Actor, at: datetime, reason: str) -> None:
        """Decide an erasure. The caller deletes the keys only after this succeeds."""
        if actor.role not in (Role.NATIONAL_ADMIN, Role.SYSTEM):
            raise NotAuthorized("only the national desk erases a reporter's identity")
        if self.erased_at is not None and self.erased_through == len(self.complaint_ids):
            raise AlreadyRecorded("the reporter is already erased", reporter=self.reporter_ref)
        if self.erased_at is not None and at < self.erased_at:
            raise RuleViolation("an erasure cannot be dated before the previous one")
        self.trigger_event(self.Erased, actor_id=actor.id, reason=reason, at=at)
