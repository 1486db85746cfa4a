"""THE consumer loop: poll -> decode -> park, with a liveness rule and a deadline.

Every reader of a topic (the projector, a rebuild, the feed router, the auditor, the agency
subscriber) polls through a `ConsumerLoop`: it yields batches of records and keeps the
reader's own logic (what a record means, where progress is recorded) out of here.

Liveness. kafka-python can stay silently stuck: a consumer whose group coordinator cannot be
found, or whose connection to it was lost, keeps answering `poll()` with nothing (each call
gives up inside `ensure_coordinator_ready` when its timeout ends), never joins its group and
never raises. So the loop watches two things and, when either lasts longer than its limit,
closes the consumer and opens a fresh one (fresh connections, a fresh coordinator lookup,
a fresh join), logs `kafka.consumer_restarted` with what it waited for, and counts it in
`restarts` (and on the caller's stats object):

- no partition assigned (`Liveness.assignment_timeout_s`);
- no record received while records are known to be pending, i.e. a position is behind its
  partition's end offset, or the end offsets cannot even be read (`stall_timeout_s`).

A fresh consumer resumes where the reader got to: a group member from its own tracking
(the caller's rebalance listener or the group's committed offsets), a manually assigned
consumer from the positions the loop hands its opener (the next offset after every record
already yielded).

Deadline. A run that is not following (`until` given) ends when `until(consumer)` says it is
caught up, or raises `ConsumerDeadlineError` after `Liveness.deadline_s`, naming what it was
waiting for, instead of hanging.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from lapor_es import observability

log = structlog.get_logger("lapor_es.kafka.loop")

Polled = dict[TopicPartition, list[Any]]  # what KafkaConsumer.poll returns
Opener = Callable[[Mapping[TopicPartition, int]], KafkaConsumer]
Until = Callable[[KafkaConsumer], bool]
T = TypeVar("T")

# Blocking consumer calls made by the loop (and by `until` helpers) never wait longer: a
# call without a timeout is how a client waits forever for a coordinator.
CALL_TIMEOUT_MS = 10_000


class ConsumerDeadlineError(TimeoutError):
    """A run that should end (not following) did not get there in time."""


class CountsRestarts(Protocol):
    restarts: int


@dataclass(frozen=True)
class Liveness:
    """Limits of the liveness rule (seconds). `deadline_s` applies to runs that are not
    following; None = no deadline. Readers get them from settings
    (`KafkaSettings.liveness`); these defaults are the settings' defaults."""

    assignment_timeout_s: float = 60.0
    stall_timeout_s: float = 60.0
    deadline_s: float | None = 900.0
    poll_timeout_ms: int = 200


class ConsumerLoop:
    """Owns one consumer at a time for one reader, named `what` in logs and errors."""

    def __init__(
        self,
        what: str,
        open_consumer: Opener,
        *,
        liveness: Liveness | None = None,
        stats: CountsRestarts | None = None,
        stop: threading.Event | None = None,
        max_records: int | None = None,
    ) -> None:
        self.what = what
        self.open_consumer = open_consumer
        self.liveness = liveness or Liveness()
        self.stats = stats
        self.stop = stop or threading.Event()
        self.max_records = max_records
        self.restarts = 0
        self.metrics = observability.current()
        self.positions: dict[TopicPartition, int] = {}  # next offset after what was yielded
        self.last_poll_empty = False
        self._consumer: KafkaConsumer | None = None
        self._waiting_for = "the first poll"

    # ------------------------------------------------------------------ the consumer
    @property
    def consumer(self) -> KafkaConsumer:
        """The current consumer (opened on first use)."""
        if self._consumer is None:
            self._consumer = self.open_consumer(dict(self.positions))
        return self._consumer

    def close(self) -> None:
        if self._consumer is not None:
            consumer, self._consumer = self._consumer, None
            with contextlib.suppress(Exception):
                consumer.close(autocommit=False, timeout_ms=5_000)

    def __enter__(self) -> ConsumerLoop:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ------------------------------------------------------------------ polling
    def batches(self, *, until: Until | None = None) -> Iterator[Polled]:
        """Non-empty poll results, in order, until `stop` is set (following, `until` None)
        or until `until(consumer)` is true (checked after every batch and every empty poll;
        keep it cheap, see `last_poll_empty`). The consumer stays open afterwards: `close`
        it (or use the loop as a context manager)."""
        deadline = self._deadline(until)
        watch = _Watch()
        backoff = 0.5
        while not self.stop.is_set():
            if deadline is not None and time.monotonic() > deadline:
                raise ConsumerDeadlineError(
                    f"{self.what}: not caught up after {self.liveness.deadline_s:.0f} s; "
                    f"it was waiting for {self._waiting_for}"
                )
            try:
                polled = self._poll()
            except (KafkaError, OSError) as exc:
                cause = exc.__cause__
                if cause is not None and not isinstance(cause, KafkaError | OSError):
                    # The caller's own rebalance listener failed (kafka-python wraps it in a
                    # KafkaError), e.g. reading the projector's SQL tracking while its
                    # database is down: the caller's error to handle, not a broker problem to
                    # restart on forever.
                    raise cause from exc
                waited_for = f"the broker ({type(exc).__name__}: {exc})"
                if self._consumer is None:  # opening failed: nothing to restart yet
                    self._waiting_for = waited_for
                    log.info("kafka.consumer_open_failed", reader=self.what, error=waited_for)
                else:
                    self._restart(watch, waited_for)
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = 0.5
            self.last_poll_empty = not polled
            if polled:
                watch.progressed()
                for tp, records in polled.items():
                    if records:
                        self.positions[tp] = records[-1].offset + 1
                yield polled
            try:
                if until is not None and until(self.consumer):
                    return
                if not polled:
                    self._check_liveness(watch)
            except (KafkaError, OSError) as exc:
                self._restart(watch, f"the broker ({type(exc).__name__}: {exc})")

    def _poll(self) -> Polled:
        kwargs: dict[str, Any] = {"timeout_ms": self.liveness.poll_timeout_ms}
        if self.max_records is not None:
            kwargs["max_records"] = self.max_records
        polled: Polled = self.consumer.poll(**kwargs)
        return {tp: records for tp, records in polled.items() if records}

    def _deadline(self, until: Until | None) -> float | None:
        if until is None or self.liveness.deadline_s is None:
            return None
        return time.monotonic() + self.liveness.deadline_s

    # ------------------------------------------------------------------ liveness
    def _check_liveness(self, watch: _Watch) -> None:
        """After an empty poll: restart when unassigned or stalled for too long."""
        assigned = self.consumer.assignment()
        if not assigned:
            self._waiting_for = "a partition assignment (the group's coordinator and join)"
            if watch.unassigned_for() > self.liveness.assignment_timeout_s:
                self._restart(watch, self._waiting_for)
            return
        watch.assigned()
        if watch.idle_for() <= self.liveness.stall_timeout_s:
            return
        pending = pending_records(self.consumer, assigned)
        if pending:
            self._waiting_for = f"{pending} pending record(s) on {sorted(map(str, assigned))}"
            self._restart(watch, self._waiting_for)
        else:
            self._waiting_for = "new records"
            watch.progressed()  # idle with nothing pending is just quiet

    def _restart(self, watch: _Watch, waited_for: str) -> None:
        self._waiting_for = waited_for
        self.restarts += 1
        self.metrics.restarted()
        if self.stats is not None:
            self.stats.restarts += 1
        log.warning(
            "kafka.consumer_restarted",
            reader=self.what,
            waited_for=waited_for,
            waited_s=round(watch.idle_for(), 1),
            restarts=self.restarts,
        )
        self.close()
        watch.reset()


class _Watch:
    """Clocks of the liveness rule."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        now = time.monotonic()
        self._progress = now
        self._assigned = now

    def progressed(self) -> None:
        self._progress = self._assigned = time.monotonic()

    def assigned(self) -> None:
        self._assigned = time.monotonic()

    def idle_for(self) -> float:
        return time.monotonic() - self._progress

    def unassigned_for(self) -> float:
        return time.monotonic() - self._assigned


def pending_records(consumer: KafkaConsumer, partitions: Iterable[TopicPartition]) -> int:
    """Records between the consumer's positions and the partitions' end offsets (bounded
    calls: raises KafkaTimeoutError instead of waiting forever)."""
    tps = list(partitions)
    if not tps:
        return 0
    ends = consumer.end_offsets(tps, timeout_ms=CALL_TIMEOUT_MS)
    total = 0
    for tp in tps:
        position = consumer.position(tp, timeout_ms=CALL_TIMEOUT_MS)
        total += max(0, ends[tp] - (position if position is not None else 0))
    return total


# ---------------------------------------------------------------------- bounded reads
def partitions_of(consumer: KafkaConsumer, topic: str) -> list[TopicPartition]:
    return [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]


@dataclass
class UpTo:
    """A read of a fixed range: every partition up to the end offsets taken at the start
    (records published later are not part of it)."""

    ends: dict[TopicPartition, int]

    def within(self, tp: TopicPartition, offset: int) -> bool:
        return offset < self.ends[tp]

    def reached(self, consumer: KafkaConsumer) -> bool:
        return all(
            (consumer.position(tp, timeout_ms=CALL_TIMEOUT_MS) or 0) >= end
            for tp, end in self.ends.items()
        )


def assign_range(
    consumer: KafkaConsumer,
    topic: str,
    *,
    starts: Mapping[TopicPartition, int] | None = None,
) -> UpTo:
    """Assign every partition of `topic` (no group), start each at `starts[tp]` or at the
    beginning, and fix the range's ends now. Raises LookupError if the topic is missing."""
    tps = partitions_of(consumer, topic)
    if not tps:
        raise LookupError(f"topic {topic!r} does not exist")
    consumer.assign(tps)
    ends: dict[TopicPartition, int] = consumer.end_offsets(tps, timeout_ms=CALL_TIMEOUT_MS)
    for tp in tps:
        if starts is not None and tp in starts:
            consumer.seek(tp, starts[tp])
        else:
            consumer.seek_to_beginning(tp)
    return UpTo(ends)


def bounded_opener(
    make: Callable[[], KafkaConsumer],
    topic: str,
    *,
    starts: Mapping[TopicPartition, int] | None = None,
    on_range: Callable[[UpTo], None] | None = None,
) -> Opener:
    """An opener for a bounded read: the first consumer fixes the range (reported through
    `on_range`); a replacement resumes from the loop's positions within the same range."""
    fixed: list[UpTo] = []

    def open_consumer(resume: Mapping[TopicPartition, int]) -> KafkaConsumer:
        consumer = make()
        try:
            if not fixed:
                fixed.append(assign_range(consumer, topic, starts=starts))
                if on_range is not None:
                    on_range(fixed[0])
            else:
                consumer.assign(list(fixed[0].ends))
                for tp in fixed[0].ends:
                    if tp in resume:
                        consumer.seek(tp, resume[tp])
                    elif starts is not None and tp in starts:
                        consumer.seek(tp, starts[tp])
                    else:
                        consumer.seek_to_beginning(tp)
        except BaseException:
            with contextlib.suppress(Exception):
                consumer.close(autocommit=False, timeout_ms=5_000)
            raise
        return consumer

    return open_consumer


# ---------------------------------------------------------------------- decode and park
@dataclass(frozen=True)
class Undecodable:
    """A record that did not decode: the reader parks it (dead letters) and goes on."""

    tp: TopicPartition
    record: Any
    error: Exception


@dataclass
class Decoded(Generic[T]):
    items: list[T]
    undecodable: list[Undecodable]
    records: int  # records in the batch that were decoded or parked


def decode_batch(
    polled: Polled,
    decode: Callable[[TopicPartition, Any], T],
    *,
    within: Callable[[TopicPartition, int], bool] | None = None,
) -> Decoded[T]:
    """Decode every record of a batch (those `within` the range, when given); a record
    whose decoding raises is set aside as Undecodable, in order, never dropped."""
    items: list[T] = []
    bad: list[Undecodable] = []
    count = 0
    for tp, records in polled.items():
        for record in records:
            if within is not None and not within(tp, record.offset):
                continue
            count += 1
            try:
                items.append(decode(tp, record))
            except Exception as exc:  # off-contract record: parked by the caller
                bad.append(Undecodable(tp, record, exc))
    return Decoded(items, bad, count)
