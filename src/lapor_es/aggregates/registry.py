"""Small aggregates that make filing race-free: tracking numbers and idempotency keys.

Both rely on the event store's optimistic concurrency: two writers that reserve the same
block of numbers, or claim the same idempotency key, cannot both commit.

Tracking numbers are handed out in blocks (lapor_es.tracking): a writer reserves the next
`size` numbers with one save of the year's sequence (`BlockReserved`), issues them from
memory, and on closing records the ones it never used (`BlockReleased`), so the auditor
can account for every number (docs/audit.md). Years numbered before blocks carry one
`NumberIssued` per number; a sequence continues from either.
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

    class BlockReserved(Aggregate.Event):
        """Numbers first..last belong to `writer`, which issues them in ascending order."""

        class_version = 1
        writer: str
        first: int
        last: int

    class BlockReleased(Aggregate.Event):
        """`writer` is done with its block first..last; `unused` lists the numbers of it it
        never issued, as inclusive [from, to] ranges."""

        class_version = 1
        writer: str
        first: int
        last: int
        unused: list[list[int]]

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

    def reserve(self, writer: str, size: int) -> tuple[int, int]:
        """The next `size` numbers, for `writer` alone: (first, last)."""
        self._reserved(writer=writer, first=self.last_number + 1, last=self.last_number + size)
        return self.last_number - size + 1, self.last_number

    @event(BlockReserved)
    def _reserved(self, writer: str, first: int, last: int) -> None:
        self.last_number = last

    def release(self, writer: str, first: int, last: int, unused: list[list[int]]) -> None:
        self._released(writer=writer, first=first, last=last, unused=unused)

    @event(BlockReleased)
    def _released(self, writer: str, first: int, last: int, unused: list[list[int]]) -> None:
        pass  # the numbers stay taken: a released number is never issued again


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
