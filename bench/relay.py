"""Relay throughput and follow-mode latency, each beside a raw kafka-python baseline.

    .venv/bin/python bench/relay.py [--events 200000] [--store sqlite|postgres]
                                    [--bootstrap HOST:PORT] [--repeats R] [--samples N]
                                    [--skip-latency] [--json]

Throughput (same run, same broker, fresh 6-partition topic per measurement):
  relay          Relay(...).run(follow=False) over a store of >= N complaint events,
                 at the default batch size (500) and at 2000; events/s
  raw            a bare idempotent KafkaProducer (acks=all, same linger/batch settings as
                 relay.transactional_producer, no transactions) sending the same records
                 (to_record of every stored event, computed before timing), then flush()
  raw txn        the same records through a bare transactional producer, one transaction
                 per 500 records: what the relay costs beyond Kafka itself is then reading
                 the store and decoding/encoding the events
Latency (follow mode): `lapor-es relay --follow` as a subprocess on a fresh store; each of
N filings through LaporApp, timed from the filing's commit to the record reaching a
read_committed consumer; baseline: a bare producer send -> the same consumer.

The complaint store is built directly with the domain API (many complaints per save) and
cached: var/bench/relay-store-<N>.sqlite3, or database lapor_bench_relay_<N> on PostgreSQL.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from importlib.metadata import version
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.crc import crc_implementation
from lapor_es.aggregates import (
    Actor,
    AgencyKind,
    AgencyRef,
    ArchiveReason,
    Complaint,
    ReplyKind,
    ResponseKind,
    Role,
)
from lapor_es.aggregates.deployment import SHARED_COMPLAINT_NAMESPACE as BENCH_NAMESPACE
from lapor_es.aggregates.registry import format_tracking_id
from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.commands import parse_command
from lapor_es.config import Settings
from lapor_es.contract.cloudevents import Record, to_record
from lapor_es.kafka.relay import (
    Relay,
    committed_position,
    complaint_event_topics,
    ensure_topic,
    transactional_producer,
)
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.logging import configure_logging

REPO = Path(__file__).resolve().parent.parent
PEPPER = "bench-pepper"
PARTITIONS = 6
SAVE_CHUNK = 300  # complaints per app.save(...) while building the store
RAW_TXN_SIZE = 500
RELAY_TOPICS: list[KafkaSettings] = []  # the topics the relay filled, for the final check
STORE_FORMAT = 1  # bump when the generated history changes, to invalidate cached stores

DESK = Actor(id="desk", role=Role.NATIONAL_ADMIN)
KEMENKES = AgencyRef(code="KEMENKES", parent="LAPOR", kind=AgencyKind.MINISTRY)
YANKES = AgencyRef(code="KEMENKES.YANKES", parent="KEMENKES", kind=AgencyKind.UNIT)
STAFF = Actor(id="staff-KEMENKES", role=Role.AGENCY_ADMIN, agency="KEMENKES")
UNIT_STAFF = Actor(id="staff-YANKES", role=Role.AGENCY_ADMIN, agency="KEMENKES.YANKES")
VISIBILITY = ("public", "anonymous", "confidential")


# ------------------------------------------------------------------ the store
def complaint_history(i: int, start: datetime) -> Complaint:
    """Complaint number i down one of five paths (3, 8, 10, 2, 4 events; 5.4 on average)."""
    at = start + timedelta(seconds=i)
    hour = timedelta(hours=1)
    due = timedelta(days=7)
    reporter = Actor(id=f"rep-{i:08d}", role=Role.REPORTER)
    comp = Complaint.file(
        actor=reporter,
        at=at,
        tracking_id=format_tracking_id(2031, i + 1),
        kind="complaint",
        channel="web",
        title=f"Air PDAM tidak mengalir ({i})",
        description="Sudah dua minggu air PDAM tidak mengalir di perumahan kami. " * 3,
        category="Air Bersih",
        location="Kota Bandung",
        reporter_ref=reporter.id,
        sealed_identity="bench-sealed-" + "x" * 160,
        visibility=VISIBILITY[i % 3],
        target_agency=None,
        verification_due_at=at + due,
        namespace=BENCH_NAMESPACE,
    )
    path = i % 5
    if path == 3:
        comp.archive(DESK, at + hour, reason=ArchiveReason.TOO_GENERAL, note="terlalu umum")
        return comp
    at += hour
    comp.verify(
        DESK,
        at,
        title=f"Air tidak mengalir ({i})",
        category="Air Bersih",
        kind="complaint",
        visibility="public",
        visibility_reason="pelapor setuju laporannya dipublikasikan",  # when lowered (issue 10)
        target=KEMENKES,
        note="mohon ditindaklanjuti",
        follow_up_due_at=at + due,
    )
    if path == 0:
        return comp

    def respond(kind: ResponseKind, text: str) -> None:
        nonlocal at
        at += hour
        who = UNIT_STAFF if YANKES.code in comp.holder_chain else STAFF
        comp.respond(
            who, at, kind=kind, text=text, follow_up_due_at=at + due, auto_resolve_due_at=at + due
        )

    def reply(kind: ReplyKind, text: str) -> None:
        nonlocal at
        at += hour
        comp.reply(
            reporter,
            at,
            kind=kind,
            text=text,
            follow_up_due_at=at + due,
            auto_resolve_due_at=at + due,
        )

    if path == 4:
        respond(ResponseKind.FINAL, "Sudah ditindaklanjuti oleh petugas")
        return comp
    if path == 1:
        at += hour
        comp.forward(STAFF, at, target=YANKES, note="ke unit", follow_up_due_at=at + due)
        at += hour
        comp.start_work(UNIT_STAFF, at)
        respond(ResponseKind.FINAL, "Pipa sudah diperbaiki petugas PDAM")
        reply(ReplyKind.CONFIRM, "Sudah mengalir, terima kasih")
        return comp
    at += hour
    comp.start_work(STAFF, at)
    respond(ResponseKind.INTERIM, "Sedang kami periksa")
    respond(ResponseKind.FINAL, "Sudah diperbaiki oleh petugas PDAM")
    reply(ReplyKind.DISPUTE, "Belum mengalir")
    respond(ResponseKind.FINAL, "Sudah diperbaiki, dicek ulang oleh PDAM")
    reply(ReplyKind.CONFIRM, "Sudah mengalir")
    return comp


def build_store(lapor: LaporApp, events: int) -> int:
    """Append complaints until at least `events` complaint events are stored."""
    start = datetime(2031, 1, 6, 1, 0, tzinfo=UTC)
    stored, i = 0, 0
    while stored < events:
        chunk = [complaint_history(i + k, start) for k in range(SAVE_CHUNK)]
        i += SAVE_CHUNK
        lapor.save(*chunk)
        stored += sum(c.version for c in chunk)
    return stored


@dataclass
class Store:
    kind: str
    settings: Settings
    events: int  # complaint events in it
    build_seconds: float | None  # None: cached


def stored_events(lapor: LaporApp) -> int:
    return lapor.recorder.max_notification_id() or 0


@contextmanager
def open_store(kind: str, events: int, pg_server: str | None) -> Iterator[tuple[LaporApp, Store]]:
    """The cached store of >= `events` complaint events (built on first use)."""
    if kind == "sqlite":
        path = REPO / "var" / "bench" / f"relay-store-{events}-v{STORE_FORMAT}.sqlite3"
        done = path.with_suffix(".done")
        if not done.exists():
            for leftover in glob.glob(f"{path}*"):
                os.remove(leftover)
        path.parent.mkdir(parents=True, exist_ok=True)
        settings = Settings(database_url=f"sqlite:///{path}", reporter_pepper=PEPPER)
    else:
        assert pg_server
        import psycopg

        name = f"lapor_bench_relay_{events}_v{STORE_FORMAT}"
        with psycopg.connect(pg_server, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
            if exists.fetchone() is None:
                conn.execute(f'CREATE DATABASE "{name}"')
        settings = Settings(
            database_url=pg_server.rsplit("/", 1)[0] + "/" + name, reporter_pepper=PEPPER
        )
        done = None
    lapor = open_app(settings)
    try:
        have = stored_events(lapor)
        build_seconds = None
        if have < events:
            if have:
                raise SystemExit(
                    f"{settings.database_url} holds a partial store ({have} events): drop it"
                )
            print(f"building a store of >= {events} complaint events ({kind}) ...", flush=True)
            t0 = time.perf_counter()
            build_store(lapor, events)
            build_seconds = time.perf_counter() - t0
            if done is not None:
                done.write_text(str(stored_events(lapor)))
        yield lapor, Store(kind, settings, stored_events(lapor), build_seconds)
    finally:
        lapor.close()


def precompute_records(lapor: LaporApp) -> tuple[list[Record], float]:
    """to_record of every stored complaint event, in position order, and the time it took."""
    topics = complaint_event_topics()
    records: list[Record] = []
    position = 0
    t0 = time.perf_counter()
    while True:
        page = lapor.recorder.select_notifications(
            start=position, limit=5000, topics=topics, inclusive_of_start=False
        )
        if not page:
            break
        for notification in page:
            event = lapor.mapper.to_domain_event(notification)
            assert isinstance(event, Complaint.Event)
            records.append(to_record(event, notification.id))
        position = page[-1].id
    return records, time.perf_counter() - t0


# ------------------------------------------------------------------ kafka helpers
class Topics:
    """Fresh, uniquely named topics for this run; all deleted at the end."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.run = uuid.uuid4().hex[:8]
        self.created: list[str] = []

    def settings(self, label: str) -> KafkaSettings:
        name = f"bench.relay.{self.run}.{label}.{len(self.created)}"
        self.created.append(name)
        return KafkaSettings(
            bootstrap=self.bootstrap,
            topic=name,
            partitions=PARTITIONS,
            transactional_id=f"{name}.txn",
            client_id="lapor-bench-relay",
        )

    def new(self, label: str) -> KafkaSettings:
        kafka = self.settings(label)
        ensure_topic(kafka)
        wait_for_topic(kafka)
        return kafka

    def delete_all(self) -> None:
        if not self.created:
            return
        admin = KafkaAdminClient(bootstrap_servers=self.bootstrap, client_id="lapor-bench-relay")
        try:
            existing = set(admin.list_topics())
            doomed = [t for t in self.created if t in existing]
            if doomed:
                admin.delete_topics(doomed)
            print(f"deleted {len(doomed)} bench topics", flush=True)
        finally:
            admin.close()


def wait_for_topic(kafka: KafkaSettings, timeout_s: float = 30.0) -> None:
    consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=None)
    try:
        deadline = time.monotonic() + timeout_s
        while len(consumer.partitions_for_topic(kafka.topic) or ()) < kafka.partitions:
            if time.monotonic() > deadline:
                raise TimeoutError(f"topic {kafka.topic} did not appear")
            time.sleep(0.1)
            consumer.close()
            consumer = KafkaConsumer(bootstrap_servers=kafka.bootstrap, group_id=None)
    finally:
        consumer.close()


def bare_producer(kafka: KafkaSettings, *, transactional: bool) -> KafkaProducer:
    """relay.transactional_producer's settings, with or without the transactional id."""
    reference = transactional_producer(kafka)  # read its config, then discard it
    config = {
        key: reference.config[key]
        for key in (
            "enable_idempotence",
            "acks",
            "linger_ms",
            "batch_size",
            "max_in_flight_requests_per_connection",
            "request_timeout_ms",
            "retries",
        )
    }
    reference.close(timeout=5)
    extra: dict[str, Any] = {}
    if transactional:
        extra = {"transactional_id": kafka.transactional_id, "transaction_timeout_ms": 60_000}
    return KafkaProducer(
        bootstrap_servers=kafka.bootstrap, client_id="lapor-bench-raw", **config, **extra
    )


def send_raw(kafka: KafkaSettings, records: list[Record], *, txn_size: int | None) -> float:
    producer = bare_producer(kafka, transactional=txn_size is not None)
    try:
        if txn_size:
            producer.init_transactions()
        t0 = time.perf_counter()
        if txn_size is None:
            for r in records:
                producer.send(kafka.topic, key=r.key, value=r.value, headers=r.headers)
            producer.flush()
        else:
            for i in range(0, len(records), txn_size):
                producer.begin_transaction()
                for r in records[i : i + txn_size]:
                    producer.send(kafka.topic, key=r.key, value=r.value, headers=r.headers)
                producer.commit_transaction()
        return time.perf_counter() - t0
    finally:
        producer.close(timeout=5)


def run_relay(lapor: LaporApp, kafka: KafkaSettings, batch_size: int, expected: int) -> float:
    RELAY_TOPICS.append(kafka)
    relay = Relay(lapor.recorder, lapor.mapper, kafka, batch_size=batch_size)
    t0 = time.perf_counter()
    stats = relay.run(follow=False)
    seconds = time.perf_counter() - t0
    assert stats.published == expected and stats.restarts == 0, stats
    return seconds


def committed_count(kafka: KafkaSettings) -> int:
    """Records visible to a read_committed reader (offsets minus transaction markers)."""
    consumer = KafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=None,
        isolation_level="read_committed",
        enable_auto_commit=False,
    )
    try:
        tps = [TopicPartition(kafka.topic, p) for p in range(kafka.partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        end = consumer.end_offsets(tps)
        seen = 0
        idle = 0
        while any(consumer.position(tp) < end[tp] for tp in tps) and idle < 20:
            batch = consumer.poll(timeout_ms=500, max_records=50_000)
            n = sum(len(v) for v in batch.values())
            seen += n
            idle = 0 if n else idle + 1
        return seen
    finally:
        consumer.close()


# ------------------------------------------------------------------ throughput
@dataclass
class Throughput:
    case: str
    events: int
    seconds: list[float]

    @property
    def median_s(self) -> float:
        return statistics.median(self.seconds)

    @property
    def rate(self) -> float:
        return self.events / self.median_s


def throughput(
    lapor: LaporApp, topics: Topics, records: list[Record], repeats: int
) -> dict[str, Throughput]:
    n = len(records)
    cases: dict[str, Callable[[], float]] = {
        "relay b=500": lambda: run_relay(lapor, topics.new("relay500"), 500, n),
        "relay b=2000": lambda: run_relay(lapor, topics.new("relay2000"), 2000, n),
        "raw producer": lambda: send_raw(topics.new("raw"), records, txn_size=None),
        f"raw txn/{RAW_TXN_SIZE}": lambda: send_raw(
            topics.new("rawtxn"), records, txn_size=RAW_TXN_SIZE
        ),
    }
    results = {name: Throughput(name, n, []) for name in cases}
    names = list(cases)
    for r in range(repeats):
        order = names if r % 2 == 0 else names[::-1]  # a noisy neighbour hits both sides
        for name in order:
            seconds = cases[name]()
            results[name].seconds.append(seconds)
            print(f"  [{r + 1}/{repeats}] {name:<14} {n / seconds:9.0f} events/s", flush=True)
    # Correctness of what was timed: the relay's last topic ends at the store's head and
    # holds every event exactly once.
    check = RELAY_TOPICS[-1]
    head = stored_events(lapor)
    assert committed_position(check) == head, (committed_position(check), head)
    count = committed_count(check)
    assert count == n, (count, n)
    print(f"  checked {check.topic}: {count} records, tail position {head}", flush=True)
    return results


# ------------------------------------------------------------------ latency
def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


@dataclass
class Latency:
    case: str
    samples_ms: list[float]

    @property
    def p50(self) -> float:
        return pct(self.samples_ms, 0.5)

    @property
    def p95(self) -> float:
        return pct(self.samples_ms, 0.95)

    @property
    def max(self) -> float:
        return max(self.samples_ms)


class Watcher:
    """A read_committed consumer on every partition, from the end: waits for one key."""

    def __init__(self, kafka: KafkaSettings, fetch_max_wait_ms: int) -> None:
        self.consumer = KafkaConsumer(
            bootstrap_servers=kafka.bootstrap,
            group_id=None,
            isolation_level="read_committed",
            enable_auto_commit=False,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )
        tps = [TopicPartition(kafka.topic, p) for p in range(kafka.partitions)]
        self.consumer.assign(tps)
        self.consumer.seek_to_end()
        for tp in tps:
            self.consumer.position(tp)  # resolve the end now, not after the first send

    def wait_for(self, key: bytes, timeout_s: float = 30.0) -> float:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for records in self.consumer.poll(timeout_ms=1000).values():
                for record in records:
                    if record.key == key:
                        return time.perf_counter()
        raise TimeoutError(f"record {key!r} not seen in {timeout_s}s")

    def close(self) -> None:
        self.consumer.close()


def file_one(lapor: LaporApp, i: int) -> bytes:
    out = lapor.handle(
        parse_command(
            {
                "command": "file",
                "actor": {"id": "web-session", "role": "reporter"},
                "channel": "web",
                "title": "Air PDAM tidak mengalir",
                "description": "Sudah dua minggu air PDAM tidak mengalir di perumahan kami.",
                "category": "Air Bersih",
                "reporter": {"name": "Dewi Lestari", "phone": f"0812{i:08d}"},
            }
        )
    )
    return str(out.complaint_id).encode()


@contextmanager
def fresh_settings(kind: str, pg_server: str | None) -> Iterator[Settings]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="lapor-bench-relay-") as tmp:
            yield Settings(database_url=f"sqlite:///{tmp}/follow.sqlite3", reporter_pepper=PEPPER)
        return
    import psycopg

    assert pg_server
    name = f"lapor_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        url = pg_server.rsplit("/", 1)[0] + "/" + name
        yield Settings(database_url=url, reporter_pepper=PEPPER)
    finally:
        with psycopg.connect(pg_server, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def latency(
    kind: str, pg_server: str | None, topics: Topics, samples: int, fetch_wait: int
) -> list[Latency]:
    jitter = random.Random(7)
    relay_commit = Latency("relay: filing committed -> consumer", [])
    relay_total = Latency("relay: file command start -> consumer", [])
    raw = Latency("raw: send -> consumer", [])
    raw_txn = Latency("raw txn: begin -> commit -> consumer", [])

    with fresh_settings(kind, pg_server) as settings:
        lapor = open_app(settings)
        kafka = topics.new("follow")
        watcher = Watcher(kafka, fetch_wait)
        fd, log_name = tempfile.mkstemp(prefix="lapor-bench-relay-", suffix=".log")
        env = {
            **os.environ,
            "LAPOR_DATABASE_URL": settings.database_url,
            "LAPOR_REPORTER_PEPPER": PEPPER,
            "LAPOR_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "LAPOR_KAFKA_TOPIC": kafka.topic,
            "LAPOR_KAFKA_PARTITIONS": str(PARTITIONS),
            "LAPOR_RELAY_TRANSACTIONAL_ID": kafka.transactional_id,
            "LAPOR_LOG_FORMAT": "json",
            "LAPOR_LOG_LEVEL": "warning",
        }
        relay = subprocess.Popen(
            [str(REPO / ".venv" / "bin" / "lapor-es"), "relay", "--follow"],
            env=env,
            stdout=fd,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        try:
            watcher.wait_for(file_one(lapor, 0), timeout_s=60)  # the relay is up
            for i in range(1, samples + 1):
                time.sleep(jitter.uniform(0, 0.1))  # sample every phase of the poll loop
                t0 = time.perf_counter()
                key = file_one(lapor, i)
                t1 = time.perf_counter()
                seen = watcher.wait_for(key)
                relay_commit.samples_ms.append((seen - t1) * 1000)
                relay_total.samples_ms.append((seen - t0) * 1000)
        finally:
            relay.send_signal(signal.SIGTERM)
            try:
                code = relay.wait(timeout=30)
            except subprocess.TimeoutExpired:
                relay.kill()
                code = relay.wait()
            os.close(fd)
            watcher.close()
            lapor.close()
        print(f"  relay subprocess exited {code} on SIGTERM (log: {log_name})", flush=True)

    for case, transactional in ((raw, False), (raw_txn, True)):
        kafka = topics.new("rawlat")
        watcher = Watcher(kafka, fetch_wait)
        producer = bare_producer(kafka, transactional=transactional)
        try:
            if transactional:
                producer.init_transactions()
            for i in range(samples + 1):
                time.sleep(jitter.uniform(0, 0.1))
                key = f"raw-{i}".encode()
                value = b'{"bench":"' + b"x" * 600 + b'"}'
                t0 = time.perf_counter()
                if transactional:
                    producer.begin_transaction()
                    producer.send(kafka.topic, key=key, value=value)
                    producer.commit_transaction()
                else:
                    producer.send(kafka.topic, key=key, value=value)
                    producer.flush()
                seen = watcher.wait_for(key)
                if i:  # the first is a warm-up
                    case.samples_ms.append((seen - t0) * 1000)
        finally:
            producer.close(timeout=5)
            watcher.close()
    return [relay_commit, relay_total, raw, raw_txn]


# ------------------------------------------------------------------ reporting
def postgres_server(given: str | None) -> str:
    if given:
        return given
    if env := os.environ.get("LAPOR_BENCH_DATABASE_URL"):
        return env
    pg = REPO / "deploy" / "postgres" / "pg"
    subprocess.run([str(pg), "start"], check=True, capture_output=True)
    return subprocess.run(
        [str(pg), "url"], check=True, capture_output=True, text=True
    ).stdout.strip()


def broker_version() -> str:
    jars = glob.glob(str(REPO / "deploy" / "kafka" / ".cache" / "libs" / "kafka_*.jar"))
    names = sorted(Path(j).stem.removeprefix("kafka_") for j in jars if "-test" not in j)
    return names[0] if names else "?"


def machine(kind: str, pg_server: str | None, bootstrap: str) -> dict[str, str]:
    info = {
        "nproc": str(os.cpu_count()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "kafka-python": version("kafka-python"),
        "crc32c": crc_implementation(),
        "eventsourcing": version("eventsourcing"),
        "broker": f"{bootstrap} (kafka {broker_version()})",
        "store": kind,
    }
    if kind == "sqlite":
        info["sqlite"] = __import__("sqlite3").sqlite_version
    elif pg_server:
        import psycopg

        with psycopg.connect(pg_server) as conn:
            row = conn.execute("SHOW server_version").fetchone()
        info["postgresql"] = str(row[0]) if row else "?"
    return info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="store size (>=)")
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--bootstrap", help="Kafka (default: deploy/kafka/broker start)")
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: pg url)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per throughput case")
    parser.add_argument("--samples", type=int, default=50, help="filings timed for latency")
    parser.add_argument(
        "--fetch-max-wait-ms", type=int, default=500, help="the latency consumer's setting"
    )
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--json", action="store_true", help="also print the results as JSON")
    args = parser.parse_args(argv)

    configure_logging("json", "warning")  # info lines (one per batch) are not timed
    bootstrap = args.bootstrap or (
        subprocess.run(
            [str(REPO / "deploy" / "kafka" / "broker"), "start"],
            check=True,
            capture_output=True,
            text=True,
        ).stdout.strip()
    )
    pg_server = postgres_server(args.database_url) if args.store == "postgres" else None
    info = machine(args.store, pg_server, bootstrap)
    print("machine: " + ", ".join(f"{k}={v}" for k, v in info.items()), flush=True)

    topics = Topics(bootstrap)
    report: dict[str, Any] = {"machine": info}
    try:
        with open_store(args.store, args.events, pg_server) as (lapor, store):
            built = (
                f"built in {store.build_seconds:.1f} s (not part of any figure)"
                if store.build_seconds is not None
                else "cached"
            )
            print(f"store: {store.events} complaint events ({args.store}), {built}", flush=True)
            records, encode_s = precompute_records(lapor)
            print(
                f"read+decode+to_record of {len(records)} events, outside timing: "
                f"{encode_s:.1f} s = {len(records) / encode_s:.0f} events/s",
                flush=True,
            )
            tp = throughput(lapor, topics, records, args.repeats)
            del records
        raw = tp["raw producer"]
        print(f"\nthroughput, {store.events} events, median of {args.repeats}:")
        for t in tp.values():
            secs = " ".join(f"{s:.1f}" for s in t.seconds)
            print(
                f"  {t.case:<14} {t.rate:9.0f} events/s  ({secs} s)  "
                f"ratio to raw producer {t.rate / raw.rate:5.2f}"
            )
        print(
            f"  read+decode+encode alone    {store.events / encode_s:9.0f} events/s "
            f"(single pass, {encode_s:.1f} s)"
        )
        report["store"] = {**asdict(store), "settings": None}
        report["encode_events_per_s"] = store.events / encode_s
        report["throughput"] = {
            t.case: {"events_per_s": t.rate, "seconds": t.seconds, "ratio": t.rate / raw.rate}
            for t in tp.values()
        }
        if not args.skip_latency:
            print(f"\nlatency, follow mode, {args.samples} filings ...", flush=True)
            lat = latency(args.store, pg_server, topics, args.samples, args.fetch_max_wait_ms)
            base = lat[2]
            print(f"latency (ms), consumer fetch_max_wait_ms={args.fetch_max_wait_ms}:")
            for item in lat:
                print(
                    f"  {item.case:<40} p50 {item.p50:7.1f}  p95 {item.p95:7.1f}  "
                    f"max {item.max:7.1f}  p50 ratio to raw {item.p50 / base.p50:5.1f}"
                )
            report["latency_ms"] = {
                x.case: {"p50": x.p50, "p95": x.p95, "max": x.max, "n": len(x.samples_ms)}
                for x in lat
            }
    finally:
        topics.delete_all()
    if args.json:
        print(json.dumps(report, indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
