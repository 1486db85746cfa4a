"""Webhooks: an agency's feed delivered over HTTPS, for backends that cannot run a Kafka client.

An agency admin registers an endpoint (POST /v1/webhooks); `lapor-es webhooks deliver`
then sends it every record of the agency's feed topic (exactly what its Kafka feed carries:
the router's `complaint_assigned`/`complaint_left` and the complaint's own events) as a
CloudEvent, signed per subscription (webhook_signing.py). docs/webhooks.md is the
integrators' page.

Two steps, each committed on its own (webhook_store.py):

1. Queue (`FeedQueue`): the feed topics of the agencies that have endpoints are read
   through THE consumer loop (lapor_es.kafka.loop), with manual assignment and no consumer
   group: each subscription's position per partition is a database row, written in the
   transaction that queues the records before it. A restart resumes from those rows, so a
   record is queued once per subscription, whatever was killed when.
2. Deliver (`WebhookSender`): due records are POSTed, in parallel across complaints, one at
   a time per complaint: a record waits while an earlier record of its complaint is
   undelivered (failing, backing off or parked), other complaints go on. A 2xx is recorded
   (and the record never sent again) in the transaction that logs the attempt; anything
   else is retried after an exponential backoff and parked after
   LAPOR_WEBHOOKS_MAX_ATTEMPTS (`lapor-es webhooks replay` sends parked records again).

What a receiver sees twice: only a record whose 2xx answer was lost with the worker (killed
after the receiver answered, before the commit). It comes again with the same
`webhook-id`, which is why receivers deduplicate on it.

Content mode: structured (`application/cloudevents+json`): the CloudEvents attributes and
the data are in the body, so the signature covers them all (binary mode would leave the
ce-* headers unsigned).

Run one delivery worker per database: two would not queue anything twice (the rows have
primary keys) but could both send the same due record.
"""

from __future__ import annotations

import base64
import http.client
import ipaddress
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import structlog
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from sqlalchemy.exc import SQLAlchemyError

from lapor_es import observability
from lapor_es.backoff import exponential
from lapor_es.contract.cloudevents import Headers, header_map
from lapor_es.feeds.router import FeedSettings
from lapor_es.feeds.webhook_signing import signed_headers
from lapor_es.feeds.webhook_store import Attempt, Delivery, Position, Queued, WebhookStore
from lapor_es.kafka import clients
from lapor_es.kafka.loop import CALL_TIMEOUT_MS, ConsumerLoop, partitions_of

log = structlog.get_logger("lapor_es.feeds.webhooks")

Clock = Callable[[], datetime]
CLOUDEVENTS_JSON = "application/cloudevents+json; charset=utf-8"
USER_AGENT = "lapor-es-webhooks/1"
_MAX_ANSWER_BYTES = 65_536  # read (and ignore) at most this much of a receiver's answer


# ----------------------------------------------------------------------- settings
@dataclass(frozen=True)
class WebhookPolicy:
    """LAPOR_WEBHOOKS_*: attempts before parking, the backoff, the HTTP timeout, how many
    complaints are sent to at once, and how often a following worker looks for work."""

    max_attempts: int = 30
    backoff_base_s: float = 10.0
    backoff_max_s: float = 3600.0
    timeout_s: float = 10.0
    concurrency: int = 8
    poll_interval_s: float = 1.0
    batch_size: int = 500
    refresh_s: float = 5.0  # how often the queue looks for new or deleted subscriptions


def check_url(url: str, *, allow_insecure: bool = False) -> str:
    """The endpoint as registered, or ValueError saying why not. HTTPS only, no user info
    in the URL, and no loopback, private or link-local address literal (a server must not
    be made to call its own network), unless `allow_insecure` (development, tests)."""
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("the url must be an absolute https:// URL")
    if parts.username is not None or parts.password is not None:
        raise ValueError("the url must not carry a user name or password")
    if parts.fragment:
        raise ValueError("the url must not have a #fragment")
    if allow_insecure:
        return url
    if parts.scheme != "https":
        raise ValueError("the url must use https")
    host = parts.hostname
    if host == "localhost" or host.endswith(".localhost"):
        raise ValueError("the url must not point at this server")
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return url  # a name: resolved by the network's egress rules (docs/webhooks.md)
    if not address.is_global:
        raise ValueError("the url must not point at a loopback, private or reserved address")
    return url


# ----------------------------------------------------------------------- the CloudEvent
def cloudevent(headers: Headers, value: bytes | None) -> tuple[str, str]:
    """(id, body): the feed record as a structured-mode CloudEvent (JSON). The attributes
    are the record's ce_* headers; `data` is the record's JSON value (`data_base64` if the
    value is not JSON, which the router never writes)."""
    attributes = header_map(headers)
    content_type = attributes.pop("content-type", "application/json")
    event: dict[str, Any] = {
        key: text for key, text in attributes.items() if key.isalnum() and key.islower()
    }
    event["datacontenttype"] = content_type
    try:
        event["data"] = json.loads(value or b"null")
    except ValueError:
        event["data_base64"] = base64.b64encode(value or b"").decode()
    body = json.dumps(event, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return str(event.get("id", "")), body


# ----------------------------------------------------------------------- step 1: queue
@dataclass
class QueueStats:
    records: int = 0  # feed records read
    queued: int = 0  # deliveries queued (records x subscriptions)
    batches: int = 0
    restarts: int = 0  # consumers replaced by the liveness rule, sessions restarted


@dataclass
class _Plan:
    """The subscriptions a consumer session serves: feed topic -> subscription ids."""

    topics: dict[str, list[str]]
    ids: frozenset[str]
    missing: set[str] = field(default_factory=set)  # topics the router has not made yet
    positions: dict[str, dict[Position, int]] = field(default_factory=dict)


class FeedQueue:
    """Feed topics -> webhook_deliveries, exactly once per (subscription, record)."""

    def __init__(
        self,
        feeds: FeedSettings,
        store: WebhookStore,
        policy: WebhookPolicy,
        *,
        clock: Clock,
        stop: threading.Event,
        client_id: str = "lapor-es-webhooks",
    ) -> None:
        self.feeds = feeds
        self.store = store
        self.policy = policy
        self.clock = clock
        self.stop = stop
        self.client_id = client_id
        self.stats = QueueStats()

    def run(self, *, follow: bool) -> QueueStats:
        """Queue until caught up with every subscribed feed (follow=False) or until
        stopped. A broker or database failure restarts the session from the stored
        positions."""
        backoff = 0.5
        while not self.stop.is_set():
            try:
                if self._session(follow=follow):
                    break
                backoff = 0.5
            except (KafkaError, OSError, TimeoutError, SQLAlchemyError) as exc:
                self.stats.restarts += 1
                observability.current().restarted()
                log.warning(
                    "webhooks.queue_restart",
                    error=f"{type(exc).__name__}: {exc}",
                    backoff_s=backoff,
                )
                self.stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
        return self.stats

    def _plan(self) -> _Plan:
        topics: dict[str, list[str]] = {}
        for subscription in self.store.active():
            topics.setdefault(self.feeds.feed(subscription.agency), []).append(subscription.id)
        return _Plan(topics, frozenset(i for ids in topics.values() for i in ids))

    def _session(self, *, follow: bool) -> bool:
        """One consumer for the current subscriptions. True: caught up (not following);
        False: the subscriptions changed (or none can be read yet), plan again."""
        plan = self._plan()
        loop = ConsumerLoop(
            f"webhook feeds ({len(plan.topics)} topics)",
            lambda _resume: self._open(plan),
            liveness=self.feeds.liveness,
            stats=self.stats,
            stop=self.stop,
            max_records=self.policy.batch_size,
        )
        caught_up = False
        next_check = time.monotonic() + self.policy.refresh_s

        def until(consumer: KafkaConsumer) -> bool:
            nonlocal caught_up, next_check
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + self.policy.refresh_s
                if self._changed(plan, consumer):
                    return True
            if not follow and loop.last_poll_empty and _at_end(consumer):
                caught_up = True
            return caught_up

        with loop:
            try:
                loop.consumer  # noqa: B018  (opens it: LookupError when nothing is readable)
            except LookupError:
                if not follow:
                    return True  # nothing to deliver yet
                self.stop.wait(self.policy.refresh_s)
                return False
            for polled in loop.batches(until=until):
                started = time.monotonic()
                self._queue(plan, polled)
                records = sum(len(rs) for rs in polled.values())
                observability.current().batch(records, time.monotonic() - started)
        return caught_up

    def _open(self, plan: _Plan) -> KafkaConsumer:
        """A consumer on every partition of the plan's feeds, each at the lowest stored
        position of its subscriptions (the beginning for a subscription without one).
        Every batch handed out was committed before the next poll, so the stored positions
        are where a replacement consumer must resume."""
        consumer = clients.consumer(
            self.feeds, client_id=self.client_id, allow_auto_create_topics=False
        )
        try:
            starts: dict[TopicPartition, int | None] = {}
            plan.missing.clear()
            for topic, ids in plan.topics.items():
                partitions = partitions_of(consumer, topic)
                if not partitions:
                    plan.missing.add(topic)
                    continue
                positions = self.store.positions(topic, ids)
                plan.positions[topic] = positions
                for tp in partitions:
                    known = [positions.get((sid, tp.partition)) for sid in ids]
                    starts[tp] = None if None in known else min(p for p in known if p is not None)
            if not starts:
                raise LookupError("no feed topic of a subscribed agency exists yet")
            consumer.assign(list(starts))
            for tp, offset in starts.items():
                if offset is None:
                    consumer.seek_to_beginning(tp)
                else:
                    consumer.seek(tp, offset)
        except BaseException:
            consumer.close(autocommit=False)
            raise
        return consumer

    def _changed(self, plan: _Plan, consumer: KafkaConsumer) -> bool:
        """Subscriptions added or deleted, or a missing feed topic created by the router."""
        if self._plan().ids != plan.ids:
            return True
        return any(consumer.partitions_for_topic(topic) for topic in plan.missing)

    def _queue(self, plan: _Plan, polled: Mapping[TopicPartition, list[Any]]) -> None:
        queued: list[Queued] = []
        moves: dict[str, dict[Position, int]] = {}
        for tp, records in polled.items():
            ids = plan.topics[tp.topic]
            stored = plan.positions[tp.topic]
            moved = moves.setdefault(tp.topic, {})
            for record in records:
                ce_id, body = cloudevent(list(record.headers), record.value)
                complaint = record.key.decode("utf-8", "replace") if record.key else ""
                for sid in ids:
                    position = moved.get((sid, tp.partition), stored.get((sid, tp.partition)))
                    if position is not None and record.offset < position:
                        continue  # this subscription has it already
                    queued.append(
                        Queued(
                            sid,
                            tp.partition,
                            record.offset,
                            complaint,
                            ce_id or f"{tp.topic}:{tp.partition}:{record.offset}",
                            body,
                        )
                    )
                    moved[(sid, tp.partition)] = record.offset + 1
                self.stats.records += 1
        self.store.enqueue(moves, queued, self.clock())
        for topic, moved in moves.items():  # only once committed
            plan.positions[topic].update(moved)
        self.stats.queued += len(queued)
        self.stats.batches += 1
        log.info("webhooks.queued", records=sum(map(len, polled.values())), deliveries=len(queued))


def _at_end(consumer: KafkaConsumer) -> bool:
    tps = list(consumer.assignment())
    ends = consumer.end_offsets(tps, timeout_ms=CALL_TIMEOUT_MS)
    return all((consumer.position(tp, timeout_ms=CALL_TIMEOUT_MS) or 0) >= ends[tp] for tp in tps)


# ----------------------------------------------------------------------- step 2: deliver
Post = Callable[[str, bytes, Mapping[str, str], float], tuple[int | None, str | None]]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A redirect is an answer like any other non-2xx: the endpoint is what was registered."""

    def redirect_request(self, *_: Any, **__: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirects)


def post(
    url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
) -> tuple[int | None, str | None]:
    """POST `body`; (status code, error): error None for a 2xx, status None when no HTTP
    answer came (refused, timed out, TLS failure)."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method="POST")
    try:
        with _OPENER.open(request, timeout=timeout_s) as response:
            response.read(_MAX_ANSWER_BYTES)
            status = int(response.status)
    except urllib.error.HTTPError as exc:
        exc.close()
        return exc.code, f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        return None, f"{type(exc.reason).__name__}: {exc.reason}"[:300]
    except (OSError, http.client.HTTPException) as exc:  # timeouts while reading, resets
        return None, f"{type(exc).__name__}: {exc}"[:300]
    if 200 <= status < 300:
        return status, None
    return status, f"HTTP {status}"


@dataclass
class SendReport:
    delivered: int = 0
    retrying: int = 0
    parked: int = 0

    def merge(self, other: SendReport) -> None:
        self.delivered += other.delivered
        self.retrying += other.retrying
        self.parked += other.parked

    def as_dict(self) -> dict[str, int]:
        return {"delivered": self.delivered, "retrying": self.retrying, "parked": self.parked}


class WebhookSender:
    """Sends what is due, one record per complaint at a time, `concurrency` at once."""

    def __init__(
        self,
        store: WebhookStore,
        policy: WebhookPolicy,
        *,
        clock: Clock,
        stop: threading.Event,
        send: Post = post,
    ) -> None:
        self.store = store
        self.policy = policy
        self.clock = clock
        self.stop = stop
        self.send = send
        self._pool = ThreadPoolExecutor(policy.concurrency, thread_name_prefix="webhook")

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def send_pass(self) -> SendReport:
        """Send everything due now, until nothing is (failures wait for their backoff)."""
        report = SendReport()
        while not self.stop.is_set():
            due = self.store.due(self.clock(), self.policy.concurrency * 4)
            if not due:
                break
            endpoints = self.store.endpoints({d.subscription_id for d in due})
            outcomes = self._pool.map(self._attempt, due, [endpoints] * len(due))
            for outcome in outcomes:
                report.merge(outcome)
        metrics = observability.current()
        metrics.retried(report.retrying)
        metrics.parked(report.parked)
        return report

    def _attempt(self, delivery: Delivery, endpoints: Mapping[str, tuple[str, str]]) -> SendReport:
        outcome = SendReport()
        endpoint = endpoints.get(delivery.subscription_id)
        if endpoint is None:  # deleted since `due` read it
            return outcome
        url, secret = endpoint
        number = delivery.attempts + 1
        body = delivery.body.encode("utf-8")
        headers = {
            "content-type": CLOUDEVENTS_JSON,
            "user-agent": USER_AGENT,
            **signed_headers(secret, delivery.ce_id, int(self.clock().timestamp()), body),
        }
        started = time.monotonic()
        status, error = self.send(url, body, headers, self.policy.timeout_s)
        attempt = Attempt(
            number=number,
            status_code=status,
            latency_ms=round((time.monotonic() - started) * 1000),
            error=error,
            at=self.clock(),
        )
        context = {
            "subscription": delivery.subscription_id,
            "ce_id": delivery.ce_id,
            "attempt": number,
            "status_code": status,
            "latency_ms": attempt.latency_ms,
        }
        if error is None:
            self.store.delivered(delivery, attempt)
            outcome.delivered += 1
            log.info("webhooks.delivered", **context)
        elif number >= self.policy.max_attempts:
            self.store.failed(delivery, attempt, retry_at=None)
            outcome.parked += 1
            log.warning("webhooks.parked", error=error, **context)
        else:
            backoff = exponential(number, self.policy.backoff_base_s, self.policy.backoff_max_s)
            retry_at = attempt.at + backoff
            self.store.failed(delivery, attempt, retry_at=retry_at)
            outcome.retrying += 1
            log.warning("webhooks.failed", error=error, retry_at=retry_at.isoformat(), **context)
        return outcome


# ----------------------------------------------------------------------- the worker
class WebhookWorker:
    """`lapor-es webhooks deliver`: queue and deliver, until caught up or until stopped."""

    def __init__(
        self,
        feeds: FeedSettings,
        store: WebhookStore,
        policy: WebhookPolicy,
        *,
        clock: Clock,
        send: Post = post,
    ) -> None:
        self.policy = policy
        self.stop = threading.Event()
        self.queue = FeedQueue(feeds, store, policy, clock=clock, stop=self.stop)
        self.sender = WebhookSender(store, policy, clock=clock, stop=self.stop, send=send)

    def run(self, *, follow: bool) -> SendReport:
        report = SendReport()
        try:
            if not follow:
                self.queue.run(follow=False)
                report.merge(self.sender.send_pass())
                return report
            failure: list[BaseException] = []
            queue = threading.Thread(
                target=self._queue_forever, args=(failure,), name="webhook-queue", daemon=True
            )
            queue.start()
            try:
                while not self.stop.is_set():
                    try:
                        report.merge(self.sender.send_pass())
                    except SQLAlchemyError as exc:  # the database is away: try again later
                        log.warning("webhooks.send_pass_failed", error=f"{type(exc).__name__}")
                    self.stop.wait(self.policy.poll_interval_s)
            finally:
                self.stop.set()
                queue.join(timeout=60)
            if failure:
                raise RuntimeError("the webhook queue stopped") from failure[0]
            return report
        finally:
            self.sender.close()
            log.info("webhooks.stopped", **report.as_dict(), **vars(self.queue.stats))

    def _queue_forever(self, failure: list[BaseException]) -> None:
        try:
            self.queue.run(follow=True)
        except BaseException as exc:  # a bug: stop the worker rather than send without queueing
            log.exception("webhooks.queue_failed")
            failure.append(exc)
            self.stop.set()
