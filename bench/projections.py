"""Projection throughput (issue 4), each figure beside a raw baseline from the same run.

    .venv/bin/python bench/projections.py [--complaints N] [--skip-kafka] [--full-year]
                                          [--bootstrap HOST:PORT] [--postgres URL] [--json]

(a) in-process, SQLite: `catch_up` of all four read models (complaints, inbox, timeline,
    deadlines) over a store of N simulated complaints, into a fresh SQLite file; (a') the
    same on the per-event slow path (`Projector(set_based=False)`: a savepoint per event,
    slower than the projector before issue 11; skipped with --skip-slow-path); then, unless
    --skip-parts, the CPU seconds of decoding and of each model alone, set-based and (unless
    --skip-slow-path) per event.
    Raw: the same number of rows (one per event: id, complaint, version, type, payload JSON)
    inserted with plain sqlite3 executemany, one transaction per 1000 rows, into a fresh
    SQLite file in the same directory.
(b) Kafka -> PostgreSQL, exactly-once mode: `run_projector` (KafkaRunner, read_committed,
    offsets tracked in the read-model transaction) with a fresh group id, into a fresh
    database, over a topic made by relaying the store. Timed from the call until every
    record is applied (the runner's idle wait after draining is not counted).
    Raw: a bare kafka-python consumer (read_committed, all partitions assigned, from the
    beginning) counting the same topic's records.
(c) --full-year: `lapor-es simulate --year 2022` into a fresh SQLite file (a few minutes).

The store is built once with `simulate(app, PlanParams(complaints=N))` and cached in
var/bench/proj-store-<N>-v1.sqlite3; the topic is cached by name (bench.proj.<N>.v1).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version
from pathlib import Path
from typing import Any

import structlog
from kafka import KafkaAdminClient, KafkaConsumer, TopicPartition
from sqlalchemy import text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.crc import crc_implementation
from lapor_es.bootstrap import open_app, projection_engine_at, read_model_service
from lapor_es.config import Settings
from lapor_es.kafka.relay import Relay, complaint_event_topics
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.projections.core import Projector
from lapor_es.projections.events import from_notification
from lapor_es.projections.runners import LocalRunner
from lapor_es.readmodels.migrations import prepare
from lapor_es.readmodels.registry import MODEL_NAMES, read_models
from lapor_es.readmodels.service import ReadModelService
from lapor_es.simulation import simulate
from lapor_es.simulation.plan import PlanParams

ROOT = Path(__file__).resolve().parent.parent
CACHE = ROOT / "var" / "bench"
STORE_VERSION = "v1"  # bump when the simulation's output changes
RAW_BATCH = 1000  # rows per transaction in the raw SQLite baseline

# Log rendering would otherwise be part of every figure.
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def store_path(complaints: int) -> Path:
    return CACHE / f"proj-store-{complaints}-{STORE_VERSION}.sqlite3"


def store_settings(path: Path, **extra: Any) -> Settings:
    return Settings(database_url=f"sqlite:///{path}", reporter_pepper="bench-pepper", **extra)


def build_store(complaints: int) -> tuple[Path, int]:
    """The cached store (built on first use) and its number of events."""
    path = store_path(complaints)
    done = path.with_suffix(".done")
    if not done.exists():
        path.unlink(missing_ok=True)
        CACHE.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        app = open_app(store_settings(path))
        simulate(app, PlanParams(complaints=complaints))
        app.close()
        print(f"built {path.name} in {time.perf_counter() - t0:.1f} s (not in any figure)")
        done.write_text("ok\n")
    return path, len(store_rows(path))


def store_rows(path: Path) -> list[tuple[int, str, str]]:
    """(notification id, topic, state) of every stored complaint event, in log order: the
    events the projector reads (directory and reporter events are not projected)."""
    topics = set(complaint_event_topics())
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT rowid, topic, state FROM stored_events ORDER BY rowid"
        ).fetchall()
    return [
        (int(i), str(t), bytes(s).decode("utf-8", "replace")) for i, t, s in rows if t in topics
    ]


# ------------------------------------------------------------------ (a) SQLite in-process
def project_sqlite(store: Path, workdir: Path) -> tuple[float, int]:
    target = workdir / "proj.sqlite3"
    settings = store_settings(store, projection_database_url=f"sqlite:///{target}")
    app = open_app(settings)
    try:
        with read_model_service(settings) as read_models:
            t0 = time.perf_counter()
            stats = read_models.catch_up(app.recorder, app.mapper)
            seconds = time.perf_counter() - t0
    finally:
        app.close()
    return seconds, stats.events


def project_parts(store: Path, workdir: Path, *, slow_path: bool = True) -> dict[str, Any]:
    """Where the in-process projector's time goes, in CPU seconds (the machine is shared, so
    wall time is not comparable across runs): decoding the store's records into
    ProjectedEvents, then each read model alone, set-based and on the per-event slow path,
    1000 events per batch, each into a fresh SQLite file."""
    settings = store_settings(store)
    app = open_app(settings)
    try:
        notifications = app.recorder.select_notifications(
            start=1, limit=10**9, topics=complaint_event_topics()
        )
        c0 = time.process_time()
        events = [from_notification(n, app.mapper) for n in notifications]
        out: dict[str, Any] = {"decode_cpu_seconds": time.process_time() - c0, "models": {}}
    finally:
        app.close()
    for name in MODEL_NAMES:
        cpu: dict[str, float] = {}
        for mode in ("set_based", "per_event") if slow_path else ("set_based",):
            engine = projection_engine_at(f"sqlite:///{workdir / f'{mode}-{name}.sqlite3'}")
            try:
                models = read_models(settings.calendar, settings.sla_policy, names=(name,))
                prepare(engine, models)
                projector = Projector(engine, models, set_based=mode == "set_based")
                c0 = time.process_time()
                for i in range(0, len(events), 1000):
                    projector.process(events[i : i + 1000])
                cpu[mode] = time.process_time() - c0
            finally:
                engine.dispose()
        out["models"][name] = cpu
    return out


def project_sqlite_per_event(store: Path, workdir: Path) -> tuple[float, int]:
    """(a) on the per-event slow path: the projector before issue 11, as a reference."""
    target = workdir / "per-event.sqlite3"
    settings = store_settings(store, projection_database_url=f"sqlite:///{target}")
    app = open_app(settings)
    engine = projection_engine_at(settings.read_model_url)
    try:
        models = read_models(settings.calendar, settings.sla_policy)
        prepare(engine, models)
        projector = Projector(engine, models, set_based=False)
        runner = LocalRunner(
            app.recorder, app.mapper, projector, batch_size=settings.projector_batch_size
        )
        t0 = time.perf_counter()
        stats = runner.run()
        seconds = time.perf_counter() - t0
    finally:
        engine.dispose()
        app.close()
    return seconds, stats.events


def raw_sqlite(rows: list[tuple[int, str, str]], workdir: Path) -> float:
    """Plain SQL, its fastest honest form: one bulk INSERT (executemany) of RAW_BATCH rows per
    transaction, one row per event, same kind of file."""
    path = workdir / "raw.sqlite3"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(
            "CREATE TABLE ev (id INTEGER PRIMARY KEY, topic TEXT NOT NULL, "
            "version INTEGER NOT NULL, payload TEXT NOT NULL)"
        )
        t0 = time.perf_counter()
        for i in range(0, len(rows), RAW_BATCH):
            conn.execute("BEGIN")
            conn.executemany(
                "INSERT INTO ev (id, topic, version, payload) VALUES (?, ?, ?, ?)",
                [
                    (nid, topic, n, state)
                    for n, (nid, topic, state) in enumerate(rows[i : i + RAW_BATCH])
                ],
            )
            conn.execute("COMMIT")
        return time.perf_counter() - t0
    finally:
        conn.close()


def projected_events(url: str) -> int:
    """Sum of applied versions over the timeline model: one per event applied."""
    engine = projection_engine_at(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(text("SELECT COUNT(*) FROM complaint_timeline")).scalar_one())
    finally:
        engine.dispose()


# ------------------------------------------------------------------ (b) Kafka -> PostgreSQL
def ensure_topic(store: Path, complaints: int, bootstrap: str, expected: int) -> str:
    """Relay the store into the bench topic unless a complete copy is already there."""
    topic = f"bench.proj.{complaints}.{STORE_VERSION}"
    if count_records(bootstrap, topic) == expected:
        return topic
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        if topic in admin.list_topics():  # a partial copy from an interrupted run
            admin.delete_topics([topic])
            time.sleep(2)
    finally:
        admin.close()
    app = open_app(store_settings(store))
    try:
        kafka = KafkaSettings(bootstrap=bootstrap, topic=topic, transactional_id=f"bench-{topic}")
        t0 = time.perf_counter()
        stats = Relay(app.recorder, app.mapper, kafka, batch_size=2000).run(follow=False)
        print(f"relayed {stats.published} events to {topic} in {time.perf_counter() - t0:.1f} s")
    finally:
        app.close()
    return topic


def count_records(bootstrap: str, topic: str) -> int:
    """Raw baseline and cache check: records a read_committed consumer sees, all partitions."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        isolation_level="read_committed",
        enable_auto_commit=False,
        max_poll_records=1000,
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return -1
        tps = [TopicPartition(topic, p) for p in sorted(partitions)]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        count = 0
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for records in consumer.poll(timeout_ms=500).values():
                count += len(records)
        return count
    finally:
        consumer.close()


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    import psycopg

    name = f"lapor_bench_proj_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def project_kafka(bootstrap: str, topic: str, database_url: str, expected: int) -> float:
    settings = Settings(
        database_url=database_url,
        kafka_bootstrap=bootstrap,
        kafka_topic=topic,
        reporter_pepper="bench-pepper",
    )
    with read_model_service(settings) as read_models:
        # Migrate the fresh database first: schema creation is not projection throughput.
        read_models.open_projector(read_models.models())
        return _timed_projector(read_models, expected)


def _timed_projector(read_models: ReadModelService, expected: int) -> float:
    stop = threading.Event()
    done = 0
    finished = 0.0

    def progress(n: int, _lag: int) -> None:
        nonlocal done, finished
        done += n
        if done >= expected:
            finished = time.perf_counter()
            stop.set()

    t0 = time.perf_counter()
    group = f"bench-{uuid.uuid4().hex[:8]}"
    stats = read_models.run_projector(group, stop=stop, progress=progress)
    assert stats.events == expected and finished, (stats, expected)
    return finished - t0


# ------------------------------------------------------------------ (c) the national year
def full_year(workdir: Path) -> float:
    path = workdir / "year.sqlite3"
    env = os.environ | {"LAPOR_DATABASE_URL": f"sqlite:///{path}"}
    t0 = time.perf_counter()
    subprocess.run(
        [str(ROOT / ".venv" / "bin" / "lapor-es"), "simulate", "--year", "2022"],
        env=env,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    return time.perf_counter() - t0


# ------------------------------------------------------------------ main
def line(label: str, events: int, seconds: float, raw_seconds: float, raw_label: str) -> str:
    rate, raw_rate = events / seconds, events / raw_seconds
    return (
        f"{label:44} {rate:10,.0f} ev/s ({seconds:6.2f} s)   "
        f"{raw_label:34} {raw_rate:10,.0f} rows/s ({raw_seconds:6.2f} s)   "
        f"ratio {rate / raw_rate:.4f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--complaints", type=int, default=3000)
    ap.add_argument("--skip-kafka", action="store_true")
    ap.add_argument("--skip-parts", action="store_true", help="no per-model CPU breakdown")
    ap.add_argument("--skip-slow-path", action="store_true", help="no per-event figures")
    ap.add_argument("--full-year", action="store_true", help="also time `simulate --year 2022`")
    ap.add_argument("--bootstrap", default="127.0.0.1:59092")
    ap.add_argument("--postgres", default="postgresql://lapor:lapor@127.0.0.1:55432/lapor")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    print(
        f"python {platform.python_version()}, {platform.system()} {platform.machine()}, "
        f"nproc={os.cpu_count()}, SQLite {sqlite3.sqlite_version}, "
        f"sqlalchemy {version('sqlalchemy')}, kafka-python {version('kafka-python')}, "
        f"CRC-32C: {crc_implementation()}"
    )
    store, events = build_store(args.complaints)
    rows = store_rows(store)
    out: dict[str, Any] = {"complaints": args.complaints, "events": events}
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-proj-", dir=CACHE) as tmp:
        work = Path(tmp)
        raw_s = raw_sqlite(rows, work)
        proj_s, applied = project_sqlite(store, work)
        assert applied == events == projected_events(f"sqlite:///{work / 'proj.sqlite3'}")
        out["sqlite"] = {"seconds": proj_s, "raw_seconds": raw_s}
        print(line("(a) catch_up, 4 models, SQLite", events, proj_s, raw_s, "raw sqlite3 INSERT"))
        if not args.skip_slow_path:
            slow_s, slow_applied = project_sqlite_per_event(store, work)
            assert slow_applied == events
            out["sqlite"]["per_event_seconds"] = slow_s
            print(line("(a') the same, per-event slow path", events, slow_s, raw_s, "raw INSERT"))
        if not args.skip_parts:
            parts = project_parts(store, work, slow_path=not args.skip_slow_path)
            out["parts"] = parts
            print(f"    CPU s: decode {parts['decode_cpu_seconds']:.2f}", end="")
            for name, cpu in parts["models"].items():
                slow = f" (per event {cpu['per_event']:.2f})" if "per_event" in cpu else ""
                print(f", {name} {cpu['set_based']:.2f}{slow}", end="")
            print()

        if not args.skip_kafka:
            topic = ensure_topic(store, args.complaints, args.bootstrap, events)
            t0 = time.perf_counter()
            counted = count_records(args.bootstrap, topic)
            raw_k = time.perf_counter() - t0
            assert counted == events, (counted, events)
            with fresh_database(args.postgres) as url:
                kafka_s = project_kafka(args.bootstrap, topic, url, events)
                assert projected_events(url) == events
            out["kafka_postgres"] = {"seconds": kafka_s, "raw_seconds": raw_k, "topic": topic}
            print(
                line(
                    "(b) KafkaRunner -> PostgreSQL, exactly-once",
                    events,
                    kafka_s,
                    raw_k,
                    "raw read_committed consumer",
                )
            )

        if args.full_year:
            year_s = full_year(work)
            out["full_year_seconds"] = year_s
            print(f"(c) lapor-es simulate --year 2022 (fresh SQLite): {year_s:.1f} s")
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        print()


if __name__ == "__main__":
    main()
