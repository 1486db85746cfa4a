"""Tracking numbers without a queue: each writer issues from blocks it reserved.

Before, every filing in the country saved the one TrackingSequence of its year, so
concurrent writers queued and retried on it. Now a writer (one LaporApp: one process, or
the threads of one door) reserves a block of `size` numbers with one save of the sequence
(`TrackingSequence.BlockReserved`, its writer id and range), and issues them from memory
in ascending order. Only reservations contend, once per `size` filings per writer.

Every number stays accountable (docs/audit.md, lapor_es.audit.store): a number a filing
took but did not store (the save lost a race, the command was refused, the batch rolled
back) is given back and issued next; on `release()` (LaporApp.close) the writer records
the numbers of its blocks it never issued (`BlockReleased`). A number whose save raised
without saying whether it committed (the connection cut after COMMIT) is set aside: never
issued again, and at release recorded as unused only if no complaint holds it. A writer
that dies without releasing leaves its block's tail unused; the auditor explains numbers
above the highest filed one of an unreleased block, and reports any other absent number.
"""

from __future__ import annotations

import heapq
import random
import threading
import time
import uuid
from collections.abc import Callable, Set
from dataclasses import dataclass, field
from typing import Any

import structlog
from eventsourcing.application import AggregateNotFoundError, Application
from eventsourcing.persistence import IntegrityError

from lapor_es.aggregates.registry import TrackingSequence, tracking_sequence_id

log = structlog.get_logger("lapor_es.tracking")

RESERVE_ATTEMPTS = 50  # reservations race only with other writers' reservations
# A reservation that lost a race doubles this writer's block size, up to GROWTH_CAP times
# the configured one: the more writers contend, the rarer each one reserves, so retries per
# filing do not grow with the writers (8 filer processes: 6% of filings retried before).
GROWTH_CAP = 8


class NoBlock(RuntimeError):
    """The year's sequence stayed too busy to reserve a block."""


@dataclass
class Block:
    """first..last reserved by this writer; `next` is the lowest never handed out."""

    first: int
    last: int
    next: int
    given_back: list[int] = field(default_factory=list)  # a heap of numbers to issue again
    in_doubt: set[int] = field(default_factory=set)  # perhaps stored: never issued again

    def take(self) -> int | None:
        if self.given_back:
            return heapq.heappop(self.given_back)
        if self.next <= self.last:
            self.next += 1
            return self.next - 1
        return None

    def unused(self, also: Set[int] = frozenset()) -> list[list[int]]:
        """The numbers never issued (and `also`), as inclusive [from, to] ranges in
        ascending order."""
        ranges: list[list[int]] = []
        for number in sorted({*self.given_back, *also}):
            if ranges and ranges[-1][1] == number - 1:
                ranges[-1][1] = number
            else:
                ranges.append([number, number])
        if self.next <= self.last:
            if ranges and ranges[-1][1] == self.next - 1:
                ranges[-1][1] = self.last
            else:
                ranges.append([self.next, self.last])
        return ranges


class TrackingNumbers:
    """This writer's blocks, per year. Thread-safe: the door's threads share one."""

    def __init__(
        self,
        app: Application[uuid.UUID],
        size: int,
        writer: str | None = None,
        *,
        filed: Callable[[int, int], bool] | None = None,
    ) -> None:
        self.app = app
        # Whether a complaint holds (year, number): settles the numbers set aside.
        self.filed = filed
        self.size = size
        self.next_size = size  # the next reservation's size: grows under contention
        self.writer = writer or uuid.uuid4().hex
        self._lock = threading.Lock()
        self._blocks: dict[int, list[Block]] = {}  # year -> its blocks, the current last

    def take(self, year: int) -> int:
        """A number of `year` for one filing; `give_back` it if the filing is not stored."""
        with self._lock:
            blocks = self._blocks.setdefault(year, [])
            for block in blocks:  # given-back numbers of older blocks first
                if (number := block.take()) is not None:
                    return number
            blocks.append(self._reserve(year))
            number = blocks[-1].take()
            assert number is not None, "a new block has numbers"
            return number

    def give_back(self, year: int, number: int) -> None:
        with self._lock:
            for block in self._blocks.get(year, []):
                if block.first <= number <= block.last:
                    heapq.heappush(block.given_back, number)
                    return
        raise ValueError(f"{number} of {year} is not from this writer's blocks")

    def set_aside(self, year: int, number: int) -> None:
        """`number`'s save raised without saying whether it committed: issue it never again
        (a second complaint with its tracking id would collide with a stored one)."""
        with self._lock:
            for block in self._blocks.get(year, []):
                if block.first <= number <= block.last:
                    block.in_doubt.add(number)
                    log.warning("tracking.number_in_doubt", year=year, number=number)
                    return
        raise ValueError(f"{number} of {year} is not from this writer's blocks")

    def release(self) -> None:
        """Record, per block still held, the numbers never issued; then hold none."""
        with self._lock:
            for year, blocks in self._blocks.items():
                for block in blocks:
                    self._release(year, block)
            self._blocks.clear()

    def _reserve(self, year: int) -> Block:
        for attempt in range(RESERVE_ATTEMPTS):
            sequence = self._sequence(year)
            first, last = sequence.reserve(self.writer, self.next_size)
            try:
                self.app.save(sequence)
            except IntegrityError:  # another writer reserved first: take the next block
                self.next_size = min(2 * self.next_size, GROWTH_CAP * self.size)
                _backoff(attempt)
                continue
            log.info("tracking.block_reserved", year=year, first=first, last=last)
            return Block(first=first, last=last, next=first)
        raise NoBlock(f"could not reserve tracking numbers of {year}: too much contention")

    def _release(self, year: int, block: Block) -> None:
        unused = block.unused(also=self._never_filed(year, block.in_doubt))
        if not unused and block is not self._blocks[year][-1]:
            return  # used up, and a later reservation by this writer already closed it
        for attempt in range(RESERVE_ATTEMPTS):
            sequence = self._sequence(year)
            sequence.release(self.writer, block.first, block.last, unused)
            try:
                self.app.save(sequence)
                return
            except IntegrityError:
                _backoff(attempt)
        log.warning("tracking.release_failed", year=year, first=block.first, last=block.last)

    def _never_filed(self, year: int, in_doubt: set[int]) -> set[int]:
        """The numbers set aside that no complaint holds. One that cannot be settled (no
        check, or the store still unreachable) is left out: the auditor then reports it as
        a gap to look at, rather than trusting a guess."""
        if not in_doubt or self.filed is None:
            return set()
        try:
            return {number for number in in_doubt if not self.filed(year, number)}
        except Exception:  # closing must not fail over it; logged
            log.warning("tracking.in_doubt_unsettled", year=year, numbers=sorted(in_doubt))
            return set()

    def _sequence(self, year: int) -> TrackingSequence:
        try:
            sequence: Any = self.app.repository.get(tracking_sequence_id(year))
        except AggregateNotFoundError:
            return TrackingSequence(year=year)
        assert isinstance(sequence, TrackingSequence)
        return sequence


def _backoff(attempt: int) -> None:
    """Jittered, growing with the attempts (as LaporApp's), so racers spread out."""
    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))
