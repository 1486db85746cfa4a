"""The agency router: lapor.complaints.v1 -> one feed topic per agency, exactly once.

Consume-transform-produce in Kafka transactions. Per poll batch, one transaction holds:
the feed records, the router's state records for every complaint the batch touched, the
dead-letter records, and the consumed offsets (`send_offsets_to_transaction`). A batch is
therefore either entirely visible to read_committed readers, with its state and offsets,
or not at all, and the next session redoes it from the committed offsets.

Routing state (holder chain, assignment content, parked records per complaint) lives in a
compacted state topic, `<router topics>.state.v1`, keyed by complaint id. On start the router
first calls `init_transactions()` (fencing any older instance and aborting its open batch),
then reads the state topic to its end with read_committed, then resumes the input from the
group's committed offsets: state and offsets were committed together, so they agree.

Parking: a record that cannot be decoded or routed goes to `<router topics>.dlq.v1` with the
error and its coordinates, and its complaint is blocked: its later records are parked behind
it (in order, in the state) until a retry (`lapor-es feeds dlq retry`, a record on
`<router topics>.control.v1`) replays them. Other complaints go on. See
docs/agency-integration.md.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError
from kafka.structs import OffsetAndMetadata

from lapor_es import observability
from lapor_es.contract import topics
from lapor_es.contract.cloudevents import (
    CONTENT_TYPE,
    SPEC_VERSION,
    Headers,
    dataschema,
    from_record,
)
from lapor_es.contract.feeds import (
    FEED_SOURCE,
    FeedPayload,
    feed_ce_id,
    feed_ce_type,
    feed_topic,
)
from lapor_es.contract.router_records import ComplaintRoute, ParkedRecord, RetryCommand
from lapor_es.feeds.routing import ToFeed, route
from lapor_es.kafka import clients
from lapor_es.kafka.loop import (
    CALL_TIMEOUT_MS,
    ConsumerLoop,
    Liveness,
    UpTo,
    bounded_opener,
    partitions_of,
    pending_records,
)
from lapor_es.kafka.settings import KafkaSecurity
from lapor_es.logging import startup_probe

log = structlog.get_logger("lapor_es.feeds.router")

# Anything a bad record can raise while being decoded or routed (pydantic's ValidationError
# and UnicodeDecodeError are ValueErrors). Kafka errors are not here: they restart the session.
RECORD_ERRORS = (ValueError, TypeError, KeyError, AttributeError)
CONTRACT_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"  # UTC, always six fractional digits (docs/events.md)


@dataclass(frozen=True)
class FeedSettings:
    bootstrap: str
    input_topic: str = topics.COMPLAINTS
    feed_prefix: str = topics.FEED_PREFIX
    router_topics: str = topics.ROUTER_TOPICS
    router_id: str = "lapor-es-agency-router"
    feed_partitions: int = 3
    replication_factor: int = 1
    security: KafkaSecurity = field(default_factory=KafkaSecurity)
    liveness: Liveness = field(default_factory=Liveness)

    @property
    def state_topic(self) -> str:
        return topics.router_state(self.router_topics)

    @property
    def dlq_topic(self) -> str:
        return topics.router_dead_letters(self.router_topics)

    @property
    def control_topic(self) -> str:
        return topics.router_control(self.router_topics)

    def feed(self, agency: str) -> str:
        return feed_topic(self.feed_prefix, agency)


@dataclass
class RouterStats:
    consumed: int = 0
    delivered: int = 0
    parked: int = 0
    batches: int = 0
    restarts: int = 0
    state_load_s: float = 0.0
    state_complaints: int = 0


@dataclass(frozen=True)
class InRecord:
    """An input record, fresh from the topic or replayed from the parked list."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers

    def parked(self, error: str | None) -> ParkedRecord:
        return ParkedRecord(
            topic=self.topic,
            partition=self.partition,
            offset=self.offset,
            value=(self.value or b"").decode("latin-1"),
            headers=[(k, (v or b"").decode("latin-1")) for k, v in self.headers],
            error=error,
        )

    @classmethod
    def from_parked(cls, key: str, p: ParkedRecord) -> InRecord:
        return cls(
            p.topic,
            p.partition,
            p.offset,
            key.encode(),
            p.value.encode("latin-1"),
            [(k, v.encode("latin-1")) for k, v in p.headers],
        )


# ----------------------------------------------------------------------------- topics
def admin_client(feeds: FeedSettings) -> KafkaAdminClient:
    return clients.admin(feeds, client_id=f"{feeds.router_id}-admin")


def create_topic(admin: KafkaAdminClient, topic: NewTopic) -> bool:
    try:
        admin.create_topics([topic])
        log.info("router.topic_created", topic=topic.name)
        return True
    except TopicAlreadyExistsError:
        return False


def ensure_router_topics(feeds: FeedSettings) -> None:
    """State (compacted: only the latest state per complaint matters), DLQ and control."""
    admin = admin_client(feeds)
    rf = feeds.replication_factor
    forever = {"cleanup.policy": "delete", "retention.ms": "-1"}
    try:
        for name, configs in (
            (feeds.state_topic, {"cleanup.policy": "compact"}),
            (feeds.dlq_topic, forever),
            (feeds.control_topic, forever),
        ):
            create_topic(
                admin,
                NewTopic(name=name, num_partitions=1, replication_factor=rf, topic_configs=configs),
            )
    finally:
        admin.close()


# ----------------------------------------------------------------------------- state
def load_state(feeds: FeedSettings, liveness: Liveness | None = None) -> dict[str, ComplaintRoute]:
    """The committed router state: the state topic read to its end (read_committed)."""
    state: dict[str, ComplaintRoute] = {}
    ranges: list[UpTo] = []
    loop = ConsumerLoop(
        f"router state {feeds.state_topic}",
        bounded_opener(
            lambda: clients.consumer(feeds, client_id=f"{feeds.router_id}-state"),
            feeds.state_topic,
            on_range=ranges.append,
        ),
        liveness=liveness or feeds.liveness,
    )
    with loop:
        try:
            loop.consumer  # noqa: B018  (opens it and fixes the range)
        except LookupError:
            return state  # no state topic yet: nothing routed
        for batch in loop.batches(until=lambda consumer: ranges[0].reached(consumer)):
            for tp, records in batch.items():
                for r in records:
                    if not ranges[0].within(tp, r.offset):
                        continue
                    key = r.key.decode()
                    if r.value is None:
                        state.pop(key, None)
                    else:
                        state[key] = ComplaintRoute.model_validate_json(r.value)
    return state


def feed_headers(payload: FeedPayload) -> Headers:
    return [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", feed_ce_id(payload).encode()),
        ("ce_source", FEED_SOURCE.encode()),
        ("ce_type", feed_ce_type(payload.type).encode()),
        ("ce_dataschema", dataschema(feed_ce_type(payload.type)).encode()),
        ("ce_time", payload.at.strftime(CONTRACT_TIME).encode()),  # as on the main topic
        ("ce_subject", payload.tracking_id.encode()),
        ("content-type", CONTENT_TYPE.encode()),
        ("ce_complaintversion", str(payload.version).encode()),
        ("ce_agency", payload.agency.encode()),
    ]


def feed_value(payload: FeedPayload) -> bytes:
    data = payload.model_dump(mode="json")
    for name in ("at", "follow_up_due_at", "filed_at"):  # the contract's timestamp form
        if name in data:
            data[name] = getattr(payload, name).strftime(CONTRACT_TIME)
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# ----------------------------------------------------------------------------- the router
class AgencyRouter:
    def __init__(
        self, feeds: FeedSettings, *, batch_size: int = 500, liveness: Liveness | None = None
    ) -> None:
        self.feeds = feeds
        self.batch_size = batch_size
        self.liveness = liveness or feeds.liveness
        self.stop = threading.Event()
        self.stats = RouterStats()
        self.metrics = observability.current()
        self.state: dict[str, ComplaintRoute] = {}
        self._known_feeds: set[str] = set()

    def run(self, *, follow: bool) -> RouterStats:
        """Route until caught up (follow=False) or until `stop` is set (follow=True)."""
        with startup_probe("the agency router", self.feeds.bootstrap):
            ensure_router_topics(self.feeds)  # the first call to the broker
        backoff = 0.5
        while not self.stop.is_set():
            try:
                if self._session(follow=follow):
                    break
                backoff = 0.5
            except (KafkaError, TimeoutError, OSError) as exc:
                # The last commit's outcome is unknown: a new session reloads the committed
                # state and offsets, so nothing is lost or repeated.
                self.stats.restarts += 1
                self.metrics.restarted()
                log.warning(
                    "router.restart", error=f"{type(exc).__name__}: {exc}", backoff_s=backoff
                )
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        log.info("router.stopped", **vars(self.stats))
        return self.stats

    # ------------------------------------------------------------------ session
    def _session(self, *, follow: bool) -> bool:
        producer = self._producer()
        loop: ConsumerLoop | None = None
        try:
            producer.init_transactions()  # fence older routers, abort their open batch
            t0 = time.monotonic()
            self.state = load_state(self.feeds, self.liveness)
            self.stats.state_load_s = time.monotonic() - t0
            self.stats.state_complaints = len(self.state)
            log.info(
                "router.state_loaded",
                complaints=len(self.state),
                seconds=round(self.stats.state_load_s, 3),
            )
            loop = ConsumerLoop(
                f"agency router {self.feeds.router_id}",
                self._consumer,
                liveness=self.liveness,
                stats=self.stats,
                stop=self.stop,
                max_records=self.batch_size,
            )
            watched = loop

            def caught_up(consumer: KafkaConsumer) -> bool:
                return watched.last_poll_empty and self._caught_up(consumer)

            for polled in loop.batches(until=None if follow else caught_up):
                self._transaction(producer, loop.consumer, polled)
            return True
        finally:
            if loop is not None:
                loop.close()
            producer.close(timeout=5)

    def _producer(self) -> KafkaProducer:
        return clients.producer(
            self.feeds,
            client_id=self.feeds.router_id,
            transactional_id=self.feeds.router_id,
            request_timeout_ms=15_000,
        )

    def _consumer(self, _resume: object = None) -> KafkaConsumer:
        # Manual assignment with a group id: offsets live in the group, no rebalances. One
        # router per router_id (its transactional id fences a second one), so the group has
        # a single member and zombie fencing rests on the transactional id. A replacement
        # consumer (liveness rule) resumes from the committed offsets: every batch the loop
        # handed out was committed with its transaction before the next poll.
        consumer = clients.consumer(
            self.feeds, client_id=self.feeds.router_id, group_id=self.feeds.router_id
        )
        try:
            tps = [
                tp
                for topic in (self.feeds.input_topic, self.feeds.control_topic)
                for tp in partitions_of(consumer, topic)
            ]
            consumer.assign(tps)
            for tp in tps:
                committed = consumer.committed(tp, timeout_ms=CALL_TIMEOUT_MS)
                if committed is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, committed)
        except BaseException:
            consumer.close(autocommit=False)
            raise
        return consumer

    def _caught_up(self, consumer: KafkaConsumer) -> bool:
        tps = list(consumer.assignment())
        ends = consumer.end_offsets(tps, timeout_ms=CALL_TIMEOUT_MS)
        return all(
            (consumer.position(tp, timeout_ms=CALL_TIMEOUT_MS) or 0) >= ends[tp] for tp in tps
        )

    # ------------------------------------------------------------------ one batch
    def _transaction(
        self, producer: KafkaProducer, consumer: KafkaConsumer, polled: dict[Any, Any]
    ) -> None:
        started = time.monotonic()
        batch = _Batch()
        offsets: dict[TopicPartition, OffsetAndMetadata] = {}
        for tp, records in polled.items():
            for r in records:
                rec = InRecord(r.topic, r.partition, r.offset, r.key, r.value, list(r.headers))
                if r.topic == self.feeds.control_topic:
                    self._control(rec, batch)
                else:
                    self._process(rec, batch)
            offsets[tp] = OffsetAndMetadata(records[-1].offset + 1, "", -1)
        self._ensure_feeds(batch.topics_under(self.feeds.feed_prefix))
        producer.begin_transaction()
        try:
            for topic, key, value, headers in batch.sends:
                producer.send(topic, key=key, value=value, headers=headers)
            for cid in batch.touched:
                producer.send(
                    self.feeds.state_topic,
                    key=cid.encode(),
                    value=self.state[cid].model_dump_json().encode(),
                )
            producer.send_offsets_to_transaction(offsets, consumer.group_metadata())
            producer.commit_transaction()
        except KafkaError:
            with contextlib.suppress(KafkaError):
                producer.abort_transaction()
            raise
        count = sum(len(records) for records in polled.values())
        self.stats.consumed += count
        self.stats.delivered += batch.delivered
        self.stats.parked += batch.parked
        self.stats.batches += 1
        self._observe(consumer, count, time.monotonic() - started, batch.parked)
        log.info(
            "router.committed",
            consumed=count,
            delivered=batch.delivered,
            parked=batch.parked,
            offsets={f"{tp.topic}:{tp.partition}": o.offset for tp, o in offsets.items()},
        )

    def _observe(self, consumer: KafkaConsumer, count: int, seconds: float, parked: int) -> None:
        self.metrics.batch(count, seconds)
        self.metrics.parked(parked)
        try:  # the gauge may miss a batch; the routing must not fail for it
            self.metrics.lag(pending_records(consumer, consumer.assignment()))
        except KafkaError as exc:
            log.debug("router.lag_unknown", error=str(exc))

    def _process(self, rec: InRecord, batch: _Batch) -> None:
        if rec.key is None:
            # No complaint to block: park it alone.
            self._dead_letter(rec, batch, "record has no key (complaint id)", blocked=False)
            return
        cid = rec.key.decode("utf-8", errors="replace")
        current = self.state.get(cid) or ComplaintRoute()
        if current.parked:
            current.parked.append(rec.parked(None))
            self.state[cid] = current
            batch.touched.add(cid)
            self._dead_letter(rec, batch, "waiting behind an earlier parked record", blocked=True)
            return
        candidate = current.model_copy(deep=True)  # a failure must not half-apply
        try:
            outputs = route(candidate, from_record(rec.value or b"", rec.headers))
        except RECORD_ERRORS as exc:
            error = f"{type(exc).__name__}: {exc}"
            current.parked.append(rec.parked(error))
            self.state[cid] = current
            batch.touched.add(cid)
            self._dead_letter(rec, batch, error, blocked=False)
            log.warning("router.parked", complaint_id=cid, offset=rec.offset, error=error)
            return
        self.state[cid] = candidate
        batch.touched.add(cid)
        for out in outputs:
            batch.add_output(self.feeds.feed(out.agency), rec, out)

    def _dead_letter(self, rec: InRecord, batch: _Batch, error: str, *, blocked: bool) -> None:
        headers: Headers = [
            *rec.headers,
            ("dlq_error", error.encode()),
            ("dlq_blocked", b"true" if blocked else b"false"),
            ("dlq_topic", rec.topic.encode()),
            ("dlq_partition", str(rec.partition).encode()),
            ("dlq_offset", str(rec.offset).encode()),
        ]
        batch.sends.append((self.feeds.dlq_topic, rec.key, rec.value, headers))
        batch.parked += 1

    def _control(self, rec: InRecord, batch: _Batch) -> None:
        try:
            command = json.loads(rec.value or b"")
            if command.get("command") != "retry":
                raise ValueError(f"unknown control command {command!r}")
        except (ValueError, AttributeError) as exc:
            log.warning("router.bad_control_record", offset=rec.offset, error=str(exc))
            return
        wanted = command.get("complaint_id")
        targets = [cid for cid, st in self.state.items() if st.parked]
        if wanted:
            targets = [cid for cid in targets if cid == wanted]
        for cid in targets:
            self._retry(cid, batch, skip_failed=bool(command.get("skip_failed")))

    def _retry(self, cid: str, batch: _Batch, *, skip_failed: bool) -> None:
        """Replay a complaint's parked records in order; a new failure parks the rest again."""
        st = self.state[cid]
        parked, st.parked = st.parked, []
        batch.touched.add(cid)
        if skip_failed and parked and parked[0].error is not None:
            log.warning("router.discarded", complaint_id=cid, offset=parked[0].offset)
            parked = parked[1:]
        log.info("router.retry", complaint_id=cid, records=len(parked))
        for p in parked:
            self._process(InRecord.from_parked(cid, p), batch)

    def _ensure_feeds(self, topics: Iterable[str]) -> None:
        missing = [t for t in topics if t not in self._known_feeds]
        if not missing:
            return
        admin = admin_client(self.feeds)
        try:
            for topic in missing:
                create_topic(
                    admin,
                    NewTopic(
                        name=topic,
                        num_partitions=self.feeds.feed_partitions,
                        replication_factor=self.feeds.replication_factor,
                        topic_configs={"cleanup.policy": "delete", "retention.ms": "-1"},
                    ),
                )
                self._known_feeds.add(topic)
        finally:
            admin.close()


@dataclass
class _Batch:
    """What one transaction will write."""

    sends: list[tuple[str, bytes | None, bytes | None, Headers]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    delivered: int = 0
    parked: int = 0

    def add_output(self, topic: str, rec: InRecord, out: ToFeed) -> None:
        if out.payload is None:  # the complaint's own event, unchanged
            self.sends.append((topic, rec.key, rec.value, rec.headers))
        else:
            self.sends.append(
                (
                    topic,
                    out.payload.complaint_id.encode(),
                    feed_value(out.payload),
                    feed_headers(out.payload),
                )
            )
        self.delivered += 1

    def topics_under(self, prefix: str) -> Sequence[str]:
        return sorted({t for t, *_ in self.sends if t.startswith(prefix)})


def request_retry(
    feeds: FeedSettings, complaint_id: str | None = None, *, skip_failed: bool = False
) -> None:
    """Ask the router (running or next started) to replay parked records."""
    ensure_router_topics(feeds)
    producer = clients.producer(feeds, client_id=f"{feeds.router_id}-control")
    try:
        body = RetryCommand(complaint_id=complaint_id, skip_failed=skip_failed)
        producer.send(feeds.control_topic, value=body.model_dump_json().encode()).get(timeout=30)
    finally:
        producer.close(timeout=5)


def parked_records(feeds: FeedSettings) -> dict[str, list[ParkedRecord]]:
    """Currently parked records per complaint, from the committed router state."""
    return {cid: st.parked for cid, st in load_state(feeds).items() if st.parked}
