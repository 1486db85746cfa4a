"""Small aggregates that make filing race-free: tracking numbers and idempotency keys.

Both rely on the event store's optimistic concurrency: two writers that allocate the
same number, or claim the same idempotency key, cannot both commit.
"""

from __future__ import annotations

from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

REGISTRY_NAMESPACE = uuid5(NAMESPACE_URL, "https://lapor.go.id/ns/registry")


def tracking_sequence_id(year: int) -> UUID:
    return uuid5(REGISTRY_NAMESPACE, f"tracking-sequence/{year}")


def idempotency_id(key: str) -> UUID:
    return uuid5(REGISTRY_NAMESPACE, f"idempotency/{key}")


def format_tracking_id(year: int, number: int) -> str:
    return f"LAP-{year}-{number:07d}"


class TrackingSequence(Aggregate):
    """Issues the human tracking numbers of one year: LAP-2026-0000001, ...2, ..."""

    class Started(Aggregate.Created):
        class_version = 1
        year: int

    class NumberIssued(Aggregate.Event):
        class_version = 1
        number: int

    @staticmethod
    def create_id(year: int, **_: Any) -> UUID:
        return tracking_sequence_id(year)

    @event(Started)
    def __init__(self, *, year: int) -> None:
        self.year = year
        self.last_number = 0

    def issue(self) -> str:
        self._issued(number=self.last_number + 1)
        return format_tracking_id(self.year, self.last_number)

    @event(NumberIssued)
    def _issued(self, number: int) -> None:
        self.last_number = number


class IdempotencyKey(Aggregate):
    """Remembers which complaint a client's filing key produced."""

    class Claimed(Aggregate.Created):
        class_version = 1
        key: str
        complaint_id: UUID
        tracking_id: str

    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return idempotency_id(key)

    @event(Claimed)
    def __init__(self, *, key: str, complaint_id: UUID, tracking_id: str) -> None:
        self.key = key
        self.complaint_id = complaint_id
        self.tracking_id = tracking_id
