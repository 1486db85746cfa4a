"""Feeding read models: from the event store in-process, or from Kafka as a consumer group.

Both runners hand the same ProjectedEvents to the same Projector; only where the events
come from, and where progress is tracked, differs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from eventsourcing.persistence import ApplicationRecorder, Mapper
from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy.exc import InterfaceError, OperationalError

from lapor_es import observability
from lapor_es.kafka import clients
from lapor_es.kafka.loop import ConsumerLoop, Liveness, decode_batch, pending_records
from lapor_es.kafka.relay import complaint_event_topics
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.projections.core import BatchResult, Projector
from lapor_es.projections.events import STORE_SOURCE, ProjectedEvent, from_kafka, from_notification
from lapor_es.wake import LISTEN_FALLBACK_S, waker_for

log = structlog.get_logger("lapor_es.projections.runner")

# How long a Kafka projector waits out an unreachable read-model database (a PostgreSQL
# restart or failover) before it gives up with an error naming what it waited for.
DATABASE_OUTAGE_S = 300.0

# (events done in this batch, events still behind: store head - position, or topic lag)
Progress = Callable[[int, int], None]


@dataclass
class RunStats:
    events: int = 0
    applied: int = 0
    duplicates: int = 0
    parked: int = 0
    batches: int = 0
    restarts: int = 0  # Kafka consumers replaced by the liveness rule
    started_at: float = field(default_factory=time.monotonic)

    def add(self, count: int, result: BatchResult) -> None:
        self.events += count
        self.applied += result.applied
        self.duplicates += result.duplicates
        self.parked += result.parked
        self.batches += 1

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return self.events / elapsed if elapsed > 0 else 0.0


class LocalRunner:
    """In-process, from the notification log. Following, it wakes on commit on PostgreSQL
    (LISTEN/NOTIFY, wake.py) and polls every `poll_interval` on SQLite (no such signal)."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        projector: Projector,
        *,
        batch_size: int = 1000,
        poll_interval: float = 0.2,
        listen_fallback: float = LISTEN_FALLBACK_S,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.projector = projector
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.listen_fallback = listen_fallback  # the poll while LISTEN works (a safety net)
        self.topics = complaint_event_topics()
        self.stop = threading.Event()
        self.stats = RunStats()
        self.metrics = observability.current()

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def run(self, *, follow: bool = False, progress: Progress | None = None) -> RunStats:
        if not follow:
            return self._run(follow=False, progress=progress, wait=lambda: None)
        waker = waker_for(self.recorder)
        timeout = self.listen_fallback if waker.mode == "listen" else self.poll_interval
        try:
            return self._run(
                follow=True, progress=progress, wait=lambda: waker.wait(timeout, self.stop)
            )
        finally:
            waker.close()

    def _run(
        self, *, follow: bool, progress: Progress | None, wait: Callable[[], object]
    ) -> RunStats:
        position = self.projector.resume_offset(STORE_SOURCE, 0) or 0
        while not self.stop.is_set():
            batch = self.recorder.select_notifications(
                start=position,
                limit=self.batch_size,
                topics=self.topics,
                inclusive_of_start=False,
            )
            if not batch:
                if not follow:
                    break
                wait()
                continue
            started = time.monotonic()
            events = [from_notification(n, self.mapper) for n in batch]
            result = self.projector.process(events)
            self.stats.add(len(events), result)
            position = batch[-1].id
            head = self.head()
            self._observe(len(events), time.monotonic() - started, head - position, result)
            if progress:
                progress(len(events), max(0, head - position))
        return self.stats

    def _observe(self, count: int, seconds: float, lag: int, result: BatchResult) -> None:
        self.metrics.batch(count, seconds)
        self.metrics.lag(lag)
        self.metrics.parked(result.parked)


def decode_record(tp: TopicPartition, record: Any) -> ProjectedEvent:
    """A complaints-topic record as the projector's input (raises on an off-contract one)."""
    return from_kafka(
        tp.topic, tp.partition, record.offset, record.value, list(record.headers or [])
    )


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, start each partition after the offset the SQL tracking recorded.

    Kafka's own committed offsets are only for lag monitoring; the SQL tracking rows,
    committed with the rows they describe, are the truth. That is also why a consumer
    replaced by the liveness rule loses and repeats nothing.
    """

    def __init__(self, projector: Projector, consumer: KafkaConsumer) -> None:
        self.projector = projector
        self.consumer = consumer

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        log.info("projector.revoked", partitions=sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        for tp in assigned:
            tracked = self.projector.resume_offset(tp.topic, tp.partition)
            if tracked is None:
                self.consumer.seek_to_beginning(tp)
            else:
                self.consumer.seek(tp, tracked + 1)
        log.info("projector.assigned", partitions=sorted(tp.partition for tp in assigned))


class ProjectorDatabaseError(RuntimeError):
    """The read-model database stayed unreachable longer than the runner waits."""


class KafkaRunner:
    """A member of a consumer group on the complaints topic (read_committed).

    Why a run "until caught up" once hung for over 20 minutes (test_sla_timers, loaded
    machine): the old loop ended only when the consumer HAD an assignment and no lag, and
    it had no deadline. kafka-python never raises while it cannot find or reach the group
    coordinator: every `poll()` gives up inside `ensure_coordinator_ready` when its 200 ms
    are over and returns nothing, so a member whose coordinator lookup or coordinator
    connection failed (the dedicated `coordinator-N` connection is declared dead whenever
    it is disconnected with a reconnect backoff pending, and looked up again) never sent
    its JoinGroup: the broker showed the group `Empty`, and the loop polled forever.
    Besides, `lag()` called `position()`/`end_offsets()` without timeouts, and a
    JoinGroup could be held for kafka-python's default max_poll_interval_ms (300 s)
    behind a member that vanished without leaving. Now (kafka/loop.py, kafka/clients.py):
    no assignment or no progress for a while -> a fresh consumer (fresh connections,
    lookup and join), logged and counted; a deadline ends a non-following run with an
    error naming what it waited for; every blocking call is bounded; the poll interval
    is 120 s.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        group_id: str,
        projector: Projector,
        *,
        batch_size: int = 1000,
        client_id: str = "lapor-es-projector",
        liveness: Liveness | None = None,
        database_outage_s: float = DATABASE_OUTAGE_S,
    ) -> None:
        self.kafka = kafka
        self.database_outage_s = database_outage_s
        self._outage_since: float | None = None  # when the read-model database went away
        self._last_events = time.monotonic()
        self.topic = kafka.topic
        self.group_id = group_id
        self.client_id = client_id
        self.projector = projector
        self.batch_size = batch_size
        self.stats = RunStats()
        self.metrics = observability.current()
        self.loop = ConsumerLoop(
            f"projector group {group_id} on {kafka.topic}",
            self._open,
            liveness=liveness or kafka.liveness,
            stats=self.stats,
            max_records=batch_size,
        )

    @property
    def stop(self) -> threading.Event:
        return self.loop.stop

    @stop.setter
    def stop(self, event: threading.Event) -> None:
        self.loop.stop = event

    @property
    def consumer(self) -> KafkaConsumer:
        return self.loop.consumer

    def _open(self, _resume: Mapping[TopicPartition, int]) -> KafkaConsumer:
        consumer = clients.consumer(
            self.kafka,
            client_id=self.client_id,
            group_id=self.group_id,
            max_poll_records=self.batch_size,
        )
        consumer.subscribe([self.topic], listener=_Rebalance(self.projector, consumer))
        return consumer

    def lag(self) -> int:
        return pending_records(self.consumer, self.consumer.assignment())

    def run(
        self,
        *,
        follow: bool = True,
        idle_timeout: float = 5.0,
        progress: Progress | None = None,
    ) -> RunStats:
        """Consume until stopped; without `follow`, until nothing arrives for idle_timeout
        seconds after the assigned partitions are drained (or the loop's deadline). An
        unreachable read-model database is waited out (`database_outage_s`), not fatal."""
        self._last_events = time.monotonic()

        def caught_up(consumer: KafkaConsumer) -> bool:
            # Cheap tests first: the lag costs a round trip to the broker.
            assigned = consumer.assignment()
            return (
                self.loop.last_poll_empty
                and time.monotonic() - self._last_events > idle_timeout
                and bool(assigned)
                and pending_records(consumer, assigned) == 0
            )

        try:
            while True:
                try:
                    self._consume(None if follow else caught_up, progress)
                    return self.stats
                except (OperationalError, InterfaceError) as exc:
                    # The read-model database went away (a restart, a failover): the batch
                    # rolled back with its tracking. Wait it out, then start a fresh consumer,
                    # whose assignment seeks every partition back to the SQL tracking.
                    self._outage_since = self._outage_since or time.monotonic()
                    self._wait_for_database(exc, time.monotonic() - self._outage_since)
                    self._last_events = time.monotonic()
        finally:
            self.loop.close()

    def _consume(
        self, until: Callable[[KafkaConsumer], bool] | None, progress: Progress | None
    ) -> None:
        for polled in self.loop.batches(until=until):
            started = time.monotonic()
            decoded = decode_batch(polled, decode_record)
            result = self.projector.process(decoded.items)
            self._outage_since = None  # the database answers: a later outage starts afresh
            for bad in decoded.undecodable:  # off-contract records: parked, go on
                record = bad.record
                self.projector.park_undecodable(
                    bad.tp.topic, bad.tp.partition, record.offset, record.key, record.value,
                    bad.error,
                )  # fmt: skip
            self.stats.add(len(decoded.items), result)
            self._commit_for_monitoring(
                {tp: OffsetAndMetadata(rs[-1].offset + 1, "", -1) for tp, rs in polled.items()}
            )
            self._last_events = time.monotonic()
            self.metrics.batch(len(decoded.items), self._last_events - started)
            self.metrics.parked(result.parked + len(decoded.undecodable))
            lag = self._lag_for_metrics()  # one broker round trip per batch
            if lag is not None:
                self.metrics.lag(lag)
            if progress:
                progress(len(decoded.items), lag if lag is not None else self.lag())

    def _wait_for_database(self, exc: Exception, waited_s: float) -> None:
        error = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
        if waited_s > self.database_outage_s:
            raise ProjectorDatabaseError(
                f"projector group {self.group_id}: the read-model database stayed "
                f"unreachable for {waited_s:.0f} s (last error: {error})"
            ) from exc
        log.warning("projector.database_unavailable", error=error, waited_s=round(waited_s, 1))
        self.stats.restarts += 1
        self.metrics.restarted()
        self.loop.close()  # the next consumer seeks back to the SQL tracking
        self.loop.stop.wait(min(5.0, 0.5 + waited_s / 2))

    def _lag_for_metrics(self) -> int | None:
        """The lag, or None when the broker does not answer in time: a gauge left at its
        last value is better than a batch failed for a metric."""
        try:
            return self.lag()
        except KafkaError as exc:
            log.debug("projector.lag_unknown", error=str(exc))
            return None

    def _commit_for_monitoring(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        try:
            self.consumer.commit_async(offsets)
        except KafkaError as exc:  # harmless: SQL tracking is what resumption uses
            log.debug("projector.commit_failed", error=str(exc))
