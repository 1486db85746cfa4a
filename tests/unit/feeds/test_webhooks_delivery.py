"""The webhook store and sender on SQLite, with a scripted receiver function (the real HTTP
receiver, Kafka and PostgreSQL are in tests/integration/test_webhooks.py): the order rule
per complaint, backoff, parking and replay, the delivery log, and queueing exactly once."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import create_engine

from lapor_es.auth import migrations
from lapor_es.feeds.webhook_signing import SecretBox, new_key, verify
from lapor_es.feeds.webhook_store import Queued, Status, WebhookStore, WebhooksUnavailable
from lapor_es.feeds.webhooks import WebhookPolicy, WebhookSender

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
TOPIC = "lapor.agency.KEMENKES.v1"


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


class Receiver:
    """Answers per complaint from a script (a status, or None for no answer), 200 once the
    script runs out; records what it accepted, verifying every signature."""

    def __init__(self, secret: str, clock: Clock) -> None:
        self.secret = secret
        self.clock = clock
        self.script: dict[str, list[int | None]] = {}
        self.accepted: list[str] = []
        self.requests: list[str] = []
        self.lock = threading.Lock()

    def __call__(
        self, url: str, body: bytes, headers: Mapping[str, str], timeout_s: float
    ) -> tuple[int | None, str | None]:
        assert verify(self.secret, headers, body, now=self.clock().timestamp())
        assert headers["content-type"].startswith("application/cloudevents+json")
        ce_id = headers["webhook-id"]
        complaint = ce_id.split(":")[0]
        with self.lock:
            self.requests.append(ce_id)
            planned = self.script.get(complaint) or []
            answer = planned.pop(0) if planned else 200
            if answer is None:
                return None, "TimeoutError: timed out"
            if answer == 200:
                self.accepted.append(ce_id)
                return 200, None
            return answer, f"HTTP {answer}"


@pytest.fixture
def store(tmp_path: Path) -> Iterator[WebhookStore]:
    engine = create_engine(f"sqlite:///{tmp_path}/door.sqlite3")
    migrations.prepare(engine)
    yield WebhookStore(engine, SecretBox.from_setting(new_key()))
    engine.dispose()


def queue(store: WebhookStore, subscription: str, records: list[tuple[str, int]]) -> None:
    """Queue (complaint, version) records on partition 0, offsets in list order."""
    start = store.positions(TOPIC, [subscription]).get((subscription, 0), 0)
    queued = [
        Queued(subscription, 0, start + i, complaint, f"{complaint}:{version}", "{}")
        for i, (complaint, version) in enumerate(records)
    ]
    store.enqueue({TOPIC: {(subscription, 0): start + len(records)}}, queued, NOW)


def setup(store: WebhookStore, **policy: float) -> tuple[str, Receiver, WebhookSender, Clock]:
    clock = Clock()
    subscription, secret = store.create(
        "KEMENKES", "https://hooks.example.go.id/x", None, created_by="p1", now=NOW
    )
    receiver = Receiver(secret, clock)
    options = {"backoff_base_s": 10.0, "backoff_max_s": 60.0, "max_attempts": 4} | policy
    sender = WebhookSender(
        store,
        WebhookPolicy(concurrency=4, **options),  # type: ignore[arg-type]
        clock=clock,
        stop=threading.Event(),
        send=receiver,
    )
    return subscription.id, receiver, sender, clock


def test_a_failing_complaint_waits_while_the_others_go_on(store: WebhookStore) -> None:
    sid, receiver, sender, clock = setup(store)
    queue(store, sid, [("A", 1), ("B", 1), ("A", 2), ("B", 2), ("A", 3), ("C", 1)])
    receiver.script["A"] = [500, None]  # a 500, then a timeout, then it recovers

    first = sender.send_pass()
    assert sorted(receiver.accepted) == ["B:1", "B:2", "C:1"]  # in parallel: any order
    assert [r for r in receiver.requests if r.startswith("A")] == ["A:1"]  # A:2, A:3 wait
    assert (first.delivered, first.retrying) == (3, 1)

    clock.advance(9)  # backoff after the first failure: 10 s
    assert sender.send_pass().delivered == 0
    clock.advance(1)
    assert sender.send_pass().retrying == 1  # the timeout; next wait 20 s
    clock.advance(20)
    sender.send_pass()
    assert [r for r in receiver.accepted if r.startswith("A")] == ["A:1", "A:2", "A:3"]
    assert store.counts(sid) == {"delivered": 6}
    log = [
        (row["ce_id"], row["attempt"], row["status_code"], row["error"]) for row in store.log(sid)
    ]
    assert [entry for entry in log if entry[0] == "A:1"] == [
        ("A:1", 1, 500, "HTTP 500"),
        ("A:1", 2, None, "TimeoutError: timed out"),
        ("A:1", 3, 200, None),
    ]
    assert all(row["latency_ms"] >= 0 for row in store.log(sid))


def test_acknowledged_records_are_never_sent_again(store: WebhookStore) -> None:
    sid, receiver, sender, clock = setup(store)
    queue(store, sid, [("A", 1), ("A", 2)])
    sender.send_pass()
    clock.advance(3600)
    sender.send_pass()
    assert receiver.requests == ["A:1", "A:2"]
    bodies = [row for row in store.deliveries(sid) if row["status"] == Status.DELIVERED]
    assert len(bodies) == 2


def test_after_the_attempts_allowed_a_record_parks_and_blocks_its_complaint(
    store: WebhookStore,
) -> None:
    sid, receiver, sender, clock = setup(store, max_attempts=3)
    queue(store, sid, [("A", 1), ("A", 2), ("B", 1)])
    receiver.script["A"] = [503, 503, 503, 503]
    for _ in range(5):
        sender.send_pass()
        clock.advance(60)
    assert store.counts(sid) == {"parked": 1, "pending": 1, "delivered": 1}
    assert receiver.requests.count("A:1") == 3 and "A:2" not in receiver.requests

    assert store.replay(clock(), complaint_id="A") == 1
    sender.send_pass()  # the script's last 503: attempts start again from one
    clock.advance(10)
    sender.send_pass()
    assert [r for r in receiver.accepted if r.startswith("A")] == ["A:1", "A:2"]
    assert store.counts(sid) == {"delivered": 3}


def test_replay_only_touches_parked_records_of_what_it_names(store: WebhookStore) -> None:
    sid, receiver, sender, clock = setup(store, max_attempts=1)
    queue(store, sid, [("A", 1), ("B", 1)])
    receiver.script = {"A": [500], "B": [500]}
    sender.send_pass()
    assert store.counts(sid) == {"parked": 2}
    assert store.replay(clock(), subscription_id="wh_" + "0" * 24) == 0
    assert store.replay(clock(), complaint_id="B") == 1
    sender.send_pass()
    assert receiver.accepted == ["B:1"] and store.counts(sid) == {"parked": 1, "delivered": 1}


def test_a_deleted_endpoint_gets_nothing_more(store: WebhookStore) -> None:
    sid, receiver, sender, _ = setup(store)
    queue(store, sid, [("A", 1)])
    assert store.delete(sid, NOW) and not store.delete(sid, NOW)
    assert sender.send_pass().delivered == 0 and receiver.requests == []
    assert store.get(sid) is None and store.active() == []


def test_queueing_the_same_record_twice_keeps_one_delivery(store: WebhookStore) -> None:
    sid, _, _, _ = setup(store)
    record = Queued(sid, 1, 41, "A", "A:1", "{}")
    store.enqueue({TOPIC: {(sid, 1): 42}}, [record], NOW)
    store.enqueue({TOPIC: {(sid, 1): 42}}, [record], NOW)
    assert len(store.deliveries(sid)) == 1
    assert store.positions(TOPIC, [sid]) == {(sid, 1): 42}
    store.enqueue({TOPIC: {(sid, 1): 50}}, [], NOW)
    assert store.positions(TOPIC, [sid]) == {(sid, 1): 50}


def test_the_database_holds_no_secret_in_clear(store: WebhookStore) -> None:
    subscription, secret = store.create(
        "KEMENSOS", "https://h.example.go.id/", "ops", created_by="p2", now=NOW
    )
    with store.engine.connect() as conn:
        dump = "\n".join(conn.connection.driver_connection.iterdump())  # type: ignore[union-attr]
    assert secret not in dump and secret.removeprefix("whsec_") not in dump
    assert store.endpoints([subscription.id]) == {
        subscription.id: ("https://h.example.go.id/", secret)
    }


def test_without_a_key_nothing_can_be_registered_or_sent(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path}/door.sqlite3")
    migrations.prepare(engine)
    keyless = WebhookStore(engine, None)
    with pytest.raises(WebhooksUnavailable, match="LAPOR_WEBHOOKS_SECRET_KEY"):
        keyless.create("KEMENKES", "https://h.example.go.id/", None, created_by="p", now=NOW)
    with pytest.raises(WebhooksUnavailable):
        keyless.endpoints(["wh_x"])
    engine.dispose()


def test_a_worker_with_another_key_cannot_open_the_secrets(store: WebhookStore) -> None:
    subscription, _ = store.create(
        "KEMENKES", "https://h.example.go.id/", None, created_by="p", now=NOW
    )
    other = WebhookStore(store.engine, SecretBox.from_setting(new_key()))
    with pytest.raises(ValueError, match=subscription.id):
        other.endpoints([subscription.id])
