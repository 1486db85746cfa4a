"""Webhooks end to end: complaints relayed to Kafka, routed into agency feeds, queued and
delivered by the webhook worker (its tables on PostgreSQL) to a real HTTP receiver on a
loopback port that verifies every signature, fails with 500, times out, holds a request
while the worker is SIGKILLed, and recovers. Every feed record arrives, in order per
complaint, and nothing acknowledged arrives twice."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Literal

import pytest
from sqlalchemy import Engine, create_engine

from lapor_es.application import LaporApp, utc_now
from lapor_es.auth import migrations
from lapor_es.bootstrap import open_app
from lapor_es.config import Settings, sqlalchemy_url
from lapor_es.feeds.router import AgencyRouter, FeedSettings
from lapor_es.feeds.webhook_signing import SecretBox, new_key
from lapor_es.feeds.webhook_store import WebhookStore
from lapor_es.feeds.webhooks import WebhookPolicy, WebhookWorker
from lapor_es.kafka.relay import Relay
from lapor_es.kafka.settings import KafkaSettings
from tests.conftest import NOW, fresh_postgres_database
from tests.support.builders import small_directory, traffic
from tests.support.kafka import Read, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.postgres]

DEADLINE_S = 120.0
TIMEOUT_S = 1.0  # the worker's HTTP timeout; the receiver's slow answer takes longer
Answer = Literal["ok", "fail", "slow", "hold"]


# ---------------------------------------------------------------------- the receiver
@dataclass(frozen=True)
class Received:
    subscription: str
    ce_id: str
    complaint: str
    event: dict[str, Any]


@dataclass
class Receiver:
    """An agency's endpoint per subscription (path /hook/<id>). Checks the signature like a
    receiver must (its own HMAC code, not ours), answers what `decide` says, and records
    every request and every accepted delivery."""

    secrets: dict[str, str] = field(default_factory=dict)
    decide: Callable[[Received], Answer] = lambda _: "ok"
    requests: list[Received] = field(default_factory=list)
    accepted: list[Received] = field(default_factory=list)
    bad_signatures: int = 0
    holding: threading.Event = field(default_factory=threading.Event)
    release: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                subscription = self.path.rsplit("/", 1)[1]
                if not receiver.signed(subscription, dict(self.headers.items()), body):
                    with receiver.lock:
                        receiver.bad_signatures += 1
                    return self.answer(401)
                event = json.loads(body)
                seen = Received(subscription, event["id"], event["data"]["complaint_id"], event)
                with receiver.lock:
                    receiver.requests.append(seen)
                    answer = receiver.decide(seen)
                    if answer == "ok":
                        receiver.accepted.append(seen)
                if answer == "ok":
                    return self.answer(204)
                if answer == "slow":  # answers after the sender gave up
                    time.sleep(TIMEOUT_S + 1.0)
                    return self.answer(200)
                if answer == "hold":  # until the test has killed the worker
                    receiver.holding.set()
                    receiver.release.wait(DEADLINE_S)
                    return self.answer(503)
                return self.answer(500)

            def answer(self, status: int) -> None:
                try:
                    self.send_response(status)
                    self.end_headers()
                except OSError:
                    pass  # the sender is gone (timed out, or killed)

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def url(self, subscription: str = "") -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook/{subscription}"

    def signed(self, subscription: str, headers: dict[str, str], body: bytes) -> bool:
        h = {k.lower(): v for k, v in headers.items()}
        secret = self.secrets.get(subscription)
        if secret is None or abs(time.time() - int(h["webhook-timestamp"])) > 300:
            return False
        key = base64.b64decode(secret.removeprefix("whsec_"))
        signed = f"{h['webhook-id']}.{h['webhook-timestamp']}.".encode() + body
        expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        return any(hmac.compare_digest(expected, s) for s in h["webhook-signature"].split())

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    r.start()
    yield r
    r.close()


# ---------------------------------------------------------------------- the world
@dataclass
class World:
    feeds: FeedSettings
    database_url: str
    engine: Engine
    store: WebhookStore
    key: str

    def feed(self, agency: str) -> list[Read]:
        return read_topic(
            KafkaSettings(bootstrap=self.feeds.bootstrap, topic=self.feeds.feed(agency))
        )

    def subscribe(self, agency: str, receiver: Receiver) -> str:
        subscription, secret = self.store.create(
            agency, receiver.url(), None, created_by="test", now=utc_now()
        )
        receiver.secrets[subscription.id] = secret
        # The receiver's URL names the subscription (one endpoint per subscription).
        with self.engine.begin() as conn:
            from lapor_es.auth.tables import webhook_subscriptions as t

            conn.execute(
                t.update()
                .where(t.c.id == subscription.id)
                .values(url=receiver.url(subscription.id))
            )
        return subscription.id

    def env(self) -> dict[str, str]:
        return {
            "LAPOR_DATABASE_URL": self.database_url,
            "LAPOR_KAFKA_BOOTSTRAP": self.feeds.bootstrap,
            "LAPOR_FEEDS_TOPIC_PREFIX": self.feeds.feed_prefix,
            "LAPOR_WEBHOOKS_SECRET_KEY": self.key,
            "LAPOR_WEBHOOKS_BACKOFF_BASE_S": "0.2",
            "LAPOR_WEBHOOKS_BACKOFF_MAX_S": "1",
            "LAPOR_WEBHOOKS_POLL_INTERVAL_S": "0.1",
            "LAPOR_WEBHOOKS_TIMEOUT_S": str(TIMEOUT_S),
            "LAPOR_LOG_FORMAT": "json",
            "LAPOR_LOG_LEVEL": "warning",
        }


@pytest.fixture
def world(tmp_path: Path, kafka: KafkaSettings, postgres_server: str) -> Iterator[World]:
    """Feeds for KEMENKES and KEMENSOS routed from 60 complaints; the webhook tables on a
    fresh PostgreSQL database."""
    suffix = kafka.topic.rsplit(".", 1)[1]
    feeds = FeedSettings(
        bootstrap=kafka.bootstrap,
        input_topic=kafka.topic,
        feed_prefix=f"test.agency.{suffix}.",
        router_topics=f"test.router.{suffix}",
        router_id=f"test-router-{suffix}",
        feed_partitions=2,
    )
    lapor: LaporApp = open_app(
        Settings(database_url=f"sqlite:///{tmp_path}/lapor.sqlite3", reporter_pepper="p"),
        clock=lambda: NOW,
    )
    try:
        small_directory(lapor)
        traffic(lapor, 60, NOW - timedelta(days=20), seed="webhooks")
        Relay(lapor.recorder, lapor.mapper, kafka, batch_size=50).run(follow=False)
    finally:
        lapor.close()
    AgencyRouter(feeds, batch_size=40).run(follow=False)
    database_url = fresh_postgres_database(postgres_server)
    engine = create_engine(sqlalchemy_url(database_url))
    migrations.prepare(engine)
    key = new_key()
    yield World(feeds, database_url, engine, WebhookStore(engine, SecretBox.from_setting(key)), key)
    engine.dispose()


def by_complaint(records: list[Read]) -> dict[str, list[str]]:
    """Complaint id -> its feed records' ce ids, in feed order."""
    out: dict[str, list[str]] = defaultdict(list)
    for r in records:
        out[r.key.decode()].append(r.attributes["id"])
    return dict(out)


def accepted_by_complaint(receiver: Receiver, subscription: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for seen in receiver.accepted:
        if seen.subscription == subscription:
            out[seen.complaint].append(seen.ce_id)
    return dict(out)


def never_ahead(receiver: Receiver, subscription: str, feed: dict[str, list[str]]) -> None:
    """The order rule, from the receiver's side: per complaint, no request for a record came
    while an earlier one was unaccepted (requests are non-decreasing in feed order)."""
    index = {ce_id: i for ids in feed.values() for i, ce_id in enumerate(ids)}
    requested: dict[str, list[int]] = defaultdict(list)
    for seen in receiver.requests:
        if seen.subscription == subscription:
            requested[seen.complaint].append(index[seen.ce_id])
    for complaint, positions in requested.items():
        assert positions == sorted(positions), f"{complaint} out of order: {positions}"


def wait_until(what: str, condition: Callable[[], bool], step: Callable[[], None]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        assert time.monotonic() < deadline, f"no {what} after {DEADLINE_S} s"
        step()


# ---------------------------------------------------------------------- in-process
def test_failures_timeouts_parking_and_replay_still_deliver_every_record_in_order(
    world: World, receiver: Receiver
) -> None:
    feed_records = world.feed("KEMENKES")
    feed = by_complaint(feed_records)
    assert len({r.attributes["id"] for r in feed_records}) == len(feed_records) > 20
    several = sorted((c for c, ids in feed.items() if len(ids) >= 2), key=lambda c: -len(feed[c]))
    failing, slow, parked = several[:3]  # 500 twice; a timeout; 500 until parked
    fails: Counter[str] = Counter()

    def decide(seen: Received) -> Answer:
        if seen.complaint == failing and fails[failing] < 2:
            fails[failing] += 1
            return "fail"
        if seen.complaint == slow and seen.ce_id == feed[slow][1] and fails[slow] < 1:
            fails[slow] += 1
            return "slow"
        if seen.complaint == parked and fails[parked] < 100:
            fails[parked] += 1
            return "fail"
        return "ok"

    receiver.decide = decide
    subscription = world.subscribe("KEMENKES", receiver)
    policy = WebhookPolicy(
        max_attempts=3, backoff_base_s=0.2, backoff_max_s=1.0, timeout_s=TIMEOUT_S
    )

    def run() -> None:
        WebhookWorker(world.feeds, world.store, policy, clock=utc_now).run(follow=False)

    wait_until(
        "every record but the parked complaint's",
        lambda: (
            world.store.counts(subscription)
            == {
                "delivered": len(feed_records) - len(feed[parked]),
                "parked": 1,
                "pending": len(feed[parked]) - 1,
            }
        ),
        run,
    )
    assert fails[parked] == 3  # attempts allowed, then parked; its later records waited

    # The agency's receiver is fixed; the operator replays the parked record.
    fails[parked] = 100
    replay = subprocess.run(
        [
            sys.executable,
            "-m",
            "lapor_es.cli",
            "webhooks",
            "replay",
            "--subscription",
            subscription,
        ],
        env=os.environ | world.env(),
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=True,
    )
    assert json.loads(replay.stdout) == {"ok": True, "requeued": 1}
    wait_until(
        "every record delivered",
        lambda: world.store.counts(subscription) == {"delivered": len(feed_records)},
        run,
    )

    assert receiver.bad_signatures == 0
    assert accepted_by_complaint(receiver, subscription) == feed  # all, in order, once
    never_ahead(receiver, subscription, feed)
    # What the agency receives is what its Kafka feed carries.
    received = {seen.ce_id: seen.event for seen in receiver.accepted}
    for record in feed_records:
        event = received[record.attributes["id"]]
        assert event["data"] == json.loads(record.value)
        assert event["type"] == record.attributes["type"]
        assert event["subject"] == record.attributes["subject"]
    # Other complaints went on while the failing one waited for its backoff.
    first_failure = next(i for i, s in enumerate(receiver.requests) if s.complaint == failing)
    recovered = next(
        i
        for i, s in enumerate(receiver.requests)
        if s.complaint == failing and any(s is a for a in receiver.accepted)
    )
    between = {s.complaint for s in receiver.requests[first_failure:recovered]}
    assert between - {failing}, "no other complaint was delivered while one was failing"
    # Every attempt is in the delivery log.
    log = world.store.log(subscription)
    codes = Counter((row["ce_id"], row["status_code"]) for row in log)
    assert codes[(feed[failing][0], 500)] == 2
    assert codes[(feed[parked][0], 500)] == 3
    timeouts = [row for row in log if row["ce_id"] == feed[slow][1] and row["status_code"] is None]
    assert len(timeouts) == 1 and "timed out" in timeouts[0]["error"]
    assert sum(1 for row in log if row["status_code"] == 204) == len(feed_records)


# ---------------------------------------------------------------------- SIGKILL
def worker_process(world: World, log: Path) -> subprocess.Popen[str]:
    """`lapor-es webhooks deliver --follow`; its log goes to `log` (a pipe nobody reads
    while it runs could fill up and stall it)."""
    with log.open("a") as stderr:
        return subprocess.Popen(
            [sys.executable, "-m", "lapor_es.cli", "webhooks", "deliver", "--follow"],
            env=os.environ | world.env(),
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )


def wait_for(
    what: str, condition: Callable[[], bool], process: subprocess.Popen[str], log: Path
) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the worker exited waiting for {what}: {log.read_text()}")
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no {what} after {DEADLINE_S} s: {log.read_text()[-3000:]}")
        time.sleep(0.05)


@pytest.mark.timeout(600)
def test_a_worker_killed_mid_delivery_delivers_nothing_acknowledged_twice(
    world: World, receiver: Receiver, tmp_path: Path
) -> None:
    log = tmp_path / "worker.log"
    feeds = {agency: world.feed(agency) for agency in ("KEMENKES", "KEMENSOS")}
    subscriptions = {agency: world.subscribe(agency, receiver) for agency in feeds}
    total = sum(len(records) for records in feeds.values())
    hold_after = total // 3

    def decide(_: Received) -> Answer:
        # Once a third is accepted, every request is held (none answered) until the kill.
        if receiver.release.is_set() or len(receiver.accepted) < hold_after:
            return "ok"
        return "hold"

    receiver.decide = decide

    def delivered() -> int:
        return sum(world.store.counts(sid).get("delivered", 0) for sid in subscriptions.values())

    first = worker_process(world, log)
    wait_for("a held delivery", receiver.holding.is_set, first, log)
    # Killed while deliveries are in flight (held, unanswered) and once every delivery the
    # receiver answered 2xx is recorded: the worker can do nothing more but wait. (A kill
    # between a 2xx and its commit would send that record again, with the same webhook-id:
    # the at-least-once window receivers deduplicate; see docs/webhooks.md.)
    wait_for("the acknowledged deliveries recorded", lambda: delivered() == hold_after, first, log)
    first.send_signal(signal.SIGKILL)
    first.wait()
    acknowledged = {
        (sid, row["ce_id"])
        for sid in subscriptions.values()
        for row in world.store.deliveries(sid)
        if row["status"] == "delivered"
    }
    accepted_before = len(receiver.accepted)
    requests_before = len(receiver.requests)
    receiver.release.set()  # the held requests answer 503: not delivered

    second = worker_process(world, log)
    wait_for("every record delivered", lambda: delivered() == total, second, log)
    second.send_signal(signal.SIGTERM)
    out, _ = second.communicate(timeout=DEADLINE_S)
    assert second.returncode == 0, log.read_text()[-3000:]
    report = json.loads(out.splitlines()[-1])
    assert report["ok"] and report["statuses"] == {"delivered": total}

    assert receiver.bad_signatures == 0
    assert accepted_before == hold_after and len(acknowledged) == hold_after
    # Nothing the first worker had recorded as delivered was sent again.
    again = {(s.subscription, s.ce_id) for s in receiver.requests[requests_before:]}
    assert again & acknowledged == set()
    # Every record of each feed reached its endpoint once, in order per complaint.
    assert Counter((s.subscription, s.ce_id) for s in receiver.accepted).most_common(1)[0][1] == 1
    for agency, records in feeds.items():
        sid = subscriptions[agency]
        assert accepted_by_complaint(receiver, sid) == by_complaint(records)
        never_ahead(receiver, sid, by_complaint(records))
        delivered_logged = Counter(
            row["ce_id"] for row in world.store.log(sid) if row["status_code"] == 204
        )
        assert set(delivered_logged.values()) == {1} and len(delivered_logged) == len(records)
