"""Feeding read models: from the event store in-process, or from Kafka as a consumer group.

Both runners hand the same ProjectedEvents to the same Projector; only where the events
come from, and where progress is tracked, differs.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from eventsourcing.persistence import ApplicationRecorder, Mapper
from kafka import ConsumerRebalanceListener, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.errors import KafkaError

from lapor_es.kafka.relay import complaint_event_topics
from lapor_es.projections.core import BatchResult, Projector
from lapor_es.projections.events import STORE_SOURCE, ProjectedEvent, from_kafka, from_notification

log = structlog.get_logger("lapor_es.projections.runner")

Progress = Callable[[int, int], None]  # (events done in this batch, store head or lag)


@dataclass
class RunStats:
    events: int = 0
    applied: int = 0
    duplicates: int = 0
    parked: int = 0
    batches: int = 0
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
    """In-process: polls the notification log (SQLite has no push subscription)."""

    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        projector: Projector,
        *,
        batch_size: int = 1000,
        poll_interval: float = 0.2,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.projector = projector
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.topics = complaint_event_topics()
        self.stop = threading.Event()
        self.stats = RunStats()

    def head(self) -> int:
        return self.recorder.max_notification_id() or 0

    def run(self, *, follow: bool = False, progress: Progress | None = None) -> RunStats:
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
                self.stop.wait(self.poll_interval)
                continue
            events = [from_notification(n, self.mapper) for n in batch]
            result = self.projector.process(events)
            self.stats.add(len(events), result)
            position = batch[-1].id
            if progress:
                progress(len(events), self.head())
        return self.stats


class _Rebalance(ConsumerRebalanceListener):  # type: ignore[misc]
    """On assignment, start each partition after the offset the SQL tracking recorded.

    Kafka's own committed offsets are only for lag monitoring; the SQL tracking rows,
    committed with the rows they describe, are the truth.
    """

    def __init__(self, runner: KafkaRunner) -> None:
        self.runner = runner

    def on_partitions_revoked(self, revoked: Sequence[TopicPartition]) -> None:
        log.info("projector.revoked", partitions=sorted(tp.partition for tp in revoked))

    def on_partitions_assigned(self, assigned: Sequence[TopicPartition]) -> None:
        consumer = self.runner.consumer
        for tp in assigned:
            tracked = self.runner.projector.resume_offset(tp.topic, tp.partition)
            if tracked is None:
                consumer.seek_to_beginning(tp)
            else:
                consumer.seek(tp, tracked + 1)
        log.info("projector.assigned", partitions=sorted(tp.partition for tp in assigned))


class KafkaRunner:
    """A member of a consumer group on the complaints topic (read_committed)."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group_id: str,
        projector: Projector,
        *,
        batch_size: int = 1000,
        client_id: str = "lapor-es-projector",
        consumer_factory: Callable[..., KafkaConsumer] = KafkaConsumer,
    ) -> None:
        self.topic = topic
        self.projector = projector
        self.batch_size = batch_size
        self.stop = threading.Event()
        self.stats = RunStats()
        self.consumer = consumer_factory(
            bootstrap_servers=bootstrap,
            group_id=group_id,
            client_id=client_id,
            isolation_level="read_committed",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=batch_size,
            session_timeout_ms=10_000,
            heartbeat_interval_ms=1_000,
        )
        self.consumer.subscribe([topic], listener=_Rebalance(self))

    def lag(self) -> int:
        assigned = list(self.consumer.assignment())
        if not assigned:
            return 0
        ends = self.consumer.end_offsets(assigned)
        return sum(max(0, ends[tp] - self.consumer.position(tp)) for tp in assigned)

    def run(
        self,
        *,
        follow: bool = True,
        idle_timeout: float = 5.0,
        progress: Progress | None = None,
    ) -> RunStats:
        """Consume until stopped; without `follow`, until nothing arrives for idle_timeout
        seconds after the assigned partitions are drained."""
        idle_since = time.monotonic()
        try:
            while not self.stop.is_set():
                polled = self.consumer.poll(timeout_ms=200, max_records=self.batch_size)
                events: list[ProjectedEvent] = []
                parked: list[tuple[TopicPartition, Any, Exception]] = []
                offsets: dict[TopicPartition, OffsetAndMetadata] = {}
                for tp, records in polled.items():
                    for record in records:
                        try:
                            events.append(
                                from_kafka(
                                    tp.topic,
                                    tp.partition,
                                    record.offset,
                                    record.value,
                                    list(record.headers or []),
                                )
                            )
                        except Exception as exc:  # off-contract record: park it, go on
                            parked.append((tp, record, exc))
                    offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
                if events or parked:
                    result = self.projector.process(events)
                    for tp, record, error in parked:
                        self.projector.park_undecodable(
                            tp.topic, tp.partition, record.offset, record.key, record.value, error
                        )
                    self.stats.add(len(events), result)
                    self._commit_for_monitoring(offsets)
                    idle_since = time.monotonic()
                    if progress:
                        progress(len(events), self.lag())
                elif (
                    not follow
                    and time.monotonic() - idle_since > idle_timeout
                    and self.consumer.assignment()
                    and self.lag() == 0
                ):
                    break
        finally:
            self.consumer.close()
        return self.stats

    def _commit_for_monitoring(self, offsets: dict[TopicPartition, OffsetAndMetadata]) -> None:
        try:
            self.consumer.commit_async(offsets)
        except KafkaError as exc:  # harmless: SQL tracking is what resumption uses
            log.debug("projector.commit_failed", error=str(exc))
