"""The relay: the event store's notification log, published to Kafka exactly once.

The notification log is the outbox. Each batch of complaint events goes to the topic in one
Kafka transaction, every record carrying its global position (`ce_position`). On start,
and after any failure, the relay finds where it got to by reading the committed tail of
every partition (read_committed) and resumes after the highest position found. Together:

- a batch is on the topic entirely or not at all (transactions, read_committed readers);
- nothing is published twice: resumption starts after what is committed, and a second
  relay with the same transactional id fences the first (zombie fencing);
- nothing is skipped: positions are read in order, and the store assigns them in commit
  order (SQLite has one writer; eventsourcing's PostgreSQL recorder locks the table).

Per-complaint order holds because the record key is the complaint id (one partition per
complaint) and positions increase with versions. See docs/relay.md for the limits.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from eventsourcing.persistence import (
    ApplicationRecorder,
    Mapper,
    Notification,
    PersistenceError,
)
from eventsourcing.utils import get_topic
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from lapor_es import observability
from lapor_es.aggregates import Complaint
from lapor_es.aggregates.complaint import complaint_event_classes
from lapor_es.contract.cloudevents import header_map, to_record
from lapor_es.kafka import clients
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.logging import startup_probe
from lapor_es.wake import LISTEN_FALLBACK_S, Waker, waker_for

log = structlog.get_logger("lapor_es.kafka.relay")


def complaint_event_topics() -> tuple[str, ...]:
    """The stored-event topics the relay publishes (directory and registry events stay home)."""
    return tuple(get_topic(cls) for cls in complaint_event_classes())


@dataclass
class RelayStats:
    published: int = 0
    batches: int = 0
    position: int = 0
    restarts: int = 0
    started_at: float = field(default_factory=time.monotonic)

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started_at
        return self.published / elapsed if elapsed > 0 else 0.0


def ensure_topic(kafka: KafkaSettings) -> bool:
    """Create the topic if missing: infinite retention, delete policy. True if created."""
    admin = clients.admin(kafka, client_id=kafka.client_id)
    try:
        admin.create_topics(
            [
                NewTopic(
                    name=kafka.topic,
                    num_partitions=kafka.partitions,
                    replication_factor=kafka.replication_factor,
                    topic_configs={"cleanup.policy": "delete", "retention.ms": "-1"},
                )
            ]
        )
        log.info("relay.topic_created", topic=kafka.topic, partitions=kafka.partitions)
        return True
    except TopicAlreadyExistsError:
        return False
    finally:
        admin.close()


def committed_position(kafka: KafkaSettings, timeout_s: float = 30.0) -> int:
    """The highest global position committed to the topic (0 if none).

    Reads backwards from each partition's end in growing windows until a record is found,
    because the last offsets of a partition may be transaction markers.
    """
    consumer = clients.consumer(kafka, client_id=f"{kafka.client_id}-tail")
    try:
        partitions = consumer.partitions_for_topic(kafka.topic) or set()
        best = 0
        for number in sorted(partitions):
            tp = TopicPartition(kafka.topic, number)
            best = max(best, _partition_tail_position(consumer, tp, timeout_s))
        return best
    finally:
        consumer.close()


def _partition_tail_position(consumer: KafkaConsumer, tp: TopicPartition, timeout_s: float) -> int:
    consumer.assign([tp])
    begin = consumer.beginning_offsets([tp])[tp]
    end = consumer.end_offsets([tp])[tp]
    window = 64
    while end > begin:
        start = max(begin, end - window)
        consumer.seek(tp, start)
        found = 0
        deadline = time.monotonic() + timeout_s
        while consumer.position(tp) < end:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading the tail of {tp} timed out")
            for records in consumer.poll(timeout_ms=500).values():
                for record in records:
                    if record.offset < end:
                        position = header_map(record.headers).get("position")
                        if position:
                            found = max(found, int(position))
        if found:
            return found
        end, window = start, window * 4
    return 0


class Relay:
    def __init__(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        kafka: KafkaSettings,
        *,
        batch_size: int = 500,
        poll_interval: float = 0.05,
        listen_fallback: float = LISTEN_FALLBACK_S,
        producer_factory: Callable[[KafkaSettings], KafkaProducer] | None = None,
    ) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.kafka = kafka
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.listen_fallback = listen_fallback  # the poll while LISTEN works (a safety net)
        self.topics = complaint_event_topics()
        self.producer_factory = producer_factory or transactional_producer
        self.stop = threading.Event()
        self.stats = RelayStats()
        self.waker: Waker | None = None
        self.metrics = observability.current()
        # Called after each published batch with (events published, events still behind the
        # store head): the CLI's progress bar.
        self.on_batch: Callable[[int, int], None] | None = None

    # ------------------------------------------------------------------ running
    def run(self, *, follow: bool) -> RelayStats:
        """Publish until caught up (follow=False) or until `stop` is set (follow=True).

        Following on PostgreSQL, the relay sleeps until a commit NOTIFYs it (wake.py); the
        poll is then only a fallback. On SQLite it polls every `poll_interval`.
        """
        with startup_probe("the relay", self.kafka.bootstrap):
            ensure_topic(self.kafka)  # the first call to the broker
        if follow:
            self.waker = waker_for(self.recorder)
        try:
            return self._run(follow=follow)
        finally:
            if self.waker is not None:
                self.waker.close()

    def _run(self, *, follow: bool) -> RelayStats:
        backoff = 0.5
        while not self.stop.is_set():
            try:
                caught_up = self._session(follow=follow)
                backoff = 0.5
                if caught_up:
                    break
            except (KafkaError, PersistenceError, TimeoutError, OSError) as exc:
                # The outcome of the last commit is unknown: start a new session, which
                # re-reads the committed tail and so neither loses nor repeats a batch.
                self.stats.restarts += 1
                self.metrics.restarted()
                log.warning(
                    "relay.restart",
                    error=f"{type(exc).__name__}: {exc}",
                    position=self.stats.position,
                    backoff_s=backoff,
                )
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        log.info(
            "relay.stopped",
            position=self.stats.position,
            published=self.stats.published,
            batches=self.stats.batches,
            restarts=self.stats.restarts,
        )
        return self.stats

    def _session(self, *, follow: bool) -> bool:
        """One producer's life: fence predecessors, find the tail, publish. True = done."""
        producer = self.producer_factory(self.kafka)
        try:
            producer.init_transactions()  # fences older relays, aborts their open batch
            self.stats.position = committed_position(self.kafka)
            log.info("relay.resumed", position=self.stats.position, head=self._head())
            while not self.stop.is_set():
                batch = self._next_batch()
                if batch:
                    self._publish(producer, batch)
                    continue
                if not follow:
                    self._await_visible()
                    return True
                self._idle()
            return True
        finally:
            producer.close(timeout=5)

    def _idle(self) -> None:
        """Wait for the next commit (LISTEN) or the poll interval (no signal)."""
        assert self.waker is not None
        listening = self.waker.mode == "listen"
        self.waker.wait(self.listen_fallback if listening else self.poll_interval, self.stop)

    def _await_visible(self, timeout_s: float = 30.0) -> None:
        """Return only once read_committed readers can see everything published: the
        transaction markers reach the partitions just after commit_transaction returns."""
        deadline = time.monotonic() + timeout_s
        while committed_position(self.kafka) < self.stats.position:
            if time.monotonic() > deadline:
                raise TimeoutError("published batches are not yet visible to readers")
            time.sleep(0.05)

    def _next_batch(self) -> Sequence[Notification]:
        return self.recorder.select_notifications(
            start=self.stats.position,
            limit=self.batch_size,
            topics=self.topics,
            inclusive_of_start=False,
        )

    def _publish(self, producer: KafkaProducer, batch: Sequence[Notification]) -> None:
        started = time.monotonic()
        producer.begin_transaction()
        try:
            for notification in batch:
                event = self.mapper.to_domain_event(notification)
                if not isinstance(event, Complaint.Event):  # the topic filter guarantees it
                    raise TypeError(f"not a complaint event: {notification.topic}")
                record = to_record(event, notification.id)
                producer.send(
                    self.kafka.topic, key=record.key, value=record.value, headers=record.headers
                )
            producer.commit_transaction()
        except Exception:
            # Never leave a transaction open: read_committed readers would stall behind it
            # until the transaction timeout. If aborting fails too, the next session's
            # init_transactions aborts it.
            with contextlib.suppress(Exception):
                producer.abort_transaction()
            raise
        self.stats.position = batch[-1].id
        self.stats.published += len(batch)
        self.stats.batches += 1
        lag = max(0, self._head() - self.stats.position)
        self.metrics.batch(len(batch), time.monotonic() - started)
        self.metrics.lag(lag)
        log.info("relay.published", count=len(batch), position=self.stats.position, lag=lag)
        if self.on_batch is not None:
            self.on_batch(len(batch), lag)

    def _head(self) -> int:
        return self.recorder.max_notification_id() or 0


def transactional_producer(kafka: KafkaSettings) -> KafkaProducer:
    """The relay's producer, with the configured security (SASL, TLS) like every client."""
    return clients.producer(
        kafka,
        client_id=kafka.client_id,
        transactional_id=kafka.transactional_id,
        batch_size=256 * 1024,
        max_in_flight_requests_per_connection=5,
        request_timeout_ms=15_000,
        retries=10,
    )
