"""The client an agency backend uses to read its own feed (lapor.agency.<CODE>.v1).

    with AgencySubscriber(bootstrap, "KEMENKES", "KEMENKES:backend") as feed:
        for event in feed:            # blocks; committed after the loop body returns
            if isinstance(event.payload, ComplaintAssigned): ...

Delivery is at-least-once: an offset is committed only after the loop body (or the callback
of `run`) has returned, so a crash in between delivers that record again on restart.
Deduplicate on `event.ce_id`, which is stable across redeliveries. Consumption resumes
from the group's committed offsets (a group id of the agency's own: `<CODE>:<name>`, the only
groups its credentials may use on a secured cluster).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Literal

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata

from lapor_es.contract.cloudevents import Headers, from_record, header_map
from lapor_es.contract.feeds import (
    FEED_ADAPTER,
    FEED_TYPE_PREFIX,
    AnyFeedPayload,
    ComplaintAssigned,
    ComplaintLeft,
    feed_topic,
)
from lapor_es.contract.payloads import AnyPayload
from lapor_es.kafka import clients
from lapor_es.kafka.loop import ConsumerLoop, Liveness, pending_records
from lapor_es.kafka.settings import KafkaSecurity

FeedKind = Literal["assigned", "event", "left"]


@dataclass
class SubscriberStats:
    events: int = 0
    restarts: int = 0  # consumers replaced by the liveness rule


@dataclass(frozen=True)
class _Endpoint:
    bootstrap: str
    security: KafkaSecurity


@dataclass(frozen=True)
class FeedEvent:
    """One record of an agency feed, decoded and validated."""

    kind: FeedKind
    ce_id: str
    ce_type: str
    complaint_id: str
    payload: AnyFeedPayload | AnyPayload
    attributes: dict[str, str]
    partition: int
    offset: int


def decode_feed_record(value: bytes, headers: Headers, partition: int, offset: int) -> FeedEvent:
    """Raises ValueError on anything off-contract."""
    attributes = header_map(headers)
    kind: FeedKind
    payload: AnyFeedPayload | AnyPayload
    if attributes.get("type", "").startswith(FEED_TYPE_PREFIX):
        payload = FEED_ADAPTER.validate_json(value)
        kind = "assigned" if isinstance(payload, ComplaintAssigned) else "left"
    else:
        payload = from_record(value, headers).payload
        kind = "event"
    return FeedEvent(
        kind=kind,
        ce_id=attributes.get("id", ""),
        ce_type=attributes.get("type", ""),
        complaint_id=payload.complaint_id,
        payload=payload,
        attributes=attributes,
        partition=partition,
        offset=offset,
    )


def agency_group(agency: str, name: str) -> str:
    """Consumer group ids an agency may use: `<CODE>:<name>` (':' is never in a code, so one
    agency's prefix never covers another's, e.g. KEMENKES: vs KEMENKES.YANKES:)."""
    return f"{agency}:{name}"


class AgencySubscriber:
    """An agency's reader of its feed. `liveness` bounds how long the consumer loop waits
    (assignment, stall, a run `until_idle`; `lapor-es feeds tail` passes the configured
    limits); `poll_timeout_ms` is how long each poll waits for records."""

    def __init__(
        self,
        bootstrap: str,
        agency_code: str,
        group_id: str,
        *,
        security: KafkaSecurity | None = None,
        topic_prefix: str = "lapor.agency.",
        poll_timeout_ms: int = 500,
        liveness: Liveness | None = None,
    ) -> None:
        self.agency = agency_code
        self.topic = feed_topic(topic_prefix, agency_code)
        self.group_id = group_id
        self.stop = threading.Event()
        self.stats = SubscriberStats()
        self._endpoint = _Endpoint(bootstrap, security or KafkaSecurity())
        self._loop = ConsumerLoop(
            f"feed {self.topic} ({group_id})",
            self._open,
            liveness=replace(liveness or Liveness(), poll_timeout_ms=poll_timeout_ms),
            stats=self.stats,
            stop=self.stop,
        )
        self._loop.consumer  # noqa: B018  (connects now: bad credentials fail here)

    def _open(self, _resume: Mapping[TopicPartition, int]) -> KafkaConsumer:
        # The router writes in transactions: read_committed never shows an aborted (re-sent)
        # batch. A replacement consumer resumes from the group's committed offsets.
        consumer = clients.consumer(self._endpoint, client_id=self.group_id, group_id=self.group_id)
        consumer.subscribe([self.topic])
        return consumer

    def __enter__(self) -> AgencySubscriber:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._loop.close()

    def __iter__(self) -> Iterator[FeedEvent]:
        return self.events()

    def events(self, *, until_idle: bool = False) -> Iterator[FeedEvent]:
        """Feed events in order per complaint; each offset is committed when the consumer of
        the iterator asks for the next one (i.e. after its loop body). `until_idle` ends the
        iteration once the group has joined and read all there is (tools, tests); otherwise
        it ends when `stop` is set.
        """
        loop = self._loop

        def idle(consumer: KafkaConsumer) -> bool:  # joined, drained, nothing new arrived
            assigned = consumer.assignment()
            return (
                loop.last_poll_empty and bool(assigned) and not pending_records(consumer, assigned)
            )

        for polled in loop.batches(until=idle if until_idle else None):
            for tp, records in polled.items():
                for r in records:
                    yield decode_feed_record(r.value, list(r.headers), r.partition, r.offset)
                    self._commit(tp, r.offset + 1)
                    self.stats.events += 1

    def run(self, callback: Callable[[FeedEvent], None], *, until_idle: bool = False) -> int:
        """Call `callback` for each event, committing after it returns. Returns the count."""
        count = 0
        for event in self.events(until_idle=until_idle):
            callback(event)
            count += 1
        return count

    def _commit(self, tp: TopicPartition, offset: int) -> None:
        self._loop.consumer.commit({tp: OffsetAndMetadata(offset, "", -1)})


__all__ = ["AgencySubscriber", "ComplaintAssigned", "ComplaintLeft", "FeedEvent"]
