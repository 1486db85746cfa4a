"""Scale-out (issue 11): two `lapor-es project --from-kafka --follow` processes in one
consumer group share the partitions and the work; when one dies the other takes over every
partition and finishes, exactly once. Real processes on the shared Kafka and PostgreSQL: a
fresh topic, group and read-model database per test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import IO

import pytest
from sqlalchemy import func, select

from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app, projection_engine_at
from lapor_es.config import Settings
from lapor_es.kafka.relay import Relay, ensure_topic
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.projections.core import dead_letters, versions
from tests.conftest import NOW, fresh_postgres_database
from tests.integration.test_worker_metrics import scrape
from tests.support.builders import small_directory, traffic
from tests.support.kafka import free_port, stored_events
from tests.support.projections import live_snapshot, read_model_service

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

MODELS = ("complaints", "inbox", "timeline", "deadlines")
PARTITIONS = 4


@dataclass
class Member:
    """One projector process: its log file (JSON lines) and its metrics port."""

    process: subprocess.Popen[str]
    log_path: Path
    log_file: IO[str]
    port: int

    def assigned(self) -> set[int] | None:
        """The partitions of its last assignment (None before its first)."""
        last = None
        for line in self.log_path.read_text().splitlines():
            if '"projector.assigned"' in line:
                last = set(json.loads(line)["partitions"])
        return last

    def processed(self) -> float:
        return scrape(self.port).get("lapor_worker_processed_records_total", 0.0)

    def alive(self) -> None:
        if self.process.poll() is not None:
            tail = self.log_path.read_text()[-3000:]
            raise AssertionError(f"projector exited {self.process.returncode}: {tail}")


@pytest.fixture
def pg_settings(postgres_server: str, kafka: KafkaSettings) -> Settings:
    """The store and the read models each in a fresh database of the shared server."""
    return Settings(
        database_url=fresh_postgres_database(postgres_server),
        projection_database_url=fresh_postgres_database(postgres_server),
        reporter_pepper="test-pepper",
        kafka_bootstrap=kafka.bootstrap,
        kafka_topic=kafka.topic,
        kafka_partitions=PARTITIONS,
    )


@pytest.fixture
def store(pg_settings: Settings) -> Iterator[LaporApp]:
    app = open_app(pg_settings, clock=lambda: NOW)
    small_directory(app)
    yield app
    app.close()


@pytest.fixture
def topic(kafka: KafkaSettings) -> KafkaSettings:
    """This test's topic, created before the members subscribe to it."""
    mine = replace(kafka, partitions=PARTITIONS)
    ensure_topic(mine)
    return mine


def start_member(settings: Settings, group: str, log_path: Path) -> Member:
    port = free_port()
    env = os.environ | {
        "LAPOR_DATABASE_URL": settings.database_url,
        "LAPOR_PROJECTION_DATABASE_URL": settings.read_model_url,
        "LAPOR_REPORTER_PEPPER": "test-pepper",
        "LAPOR_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
        "LAPOR_KAFKA_TOPIC": settings.kafka_topic,
        "LAPOR_PROJECTOR_BATCH_SIZE": "10",  # small batches: both members get several
        "LAPOR_LOG_FORMAT": "json",
        "LAPOR_METRICS_PORT": str(port),
    }
    log_file = log_path.open("w")
    args = ["project", "--from-kafka", "--follow", "--group-id", group]
    process = subprocess.Popen(
        [sys.executable, "-m", "lapor_es.cli", *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log_file,
        text=True,
    )
    return Member(process, log_path, log_file, port)


def stop(member: Member, sig: signal.Signals = signal.SIGTERM) -> int:
    if member.process.poll() is None:
        member.process.send_signal(sig)
    try:
        code = member.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        member.process.kill()
        code = member.process.wait()
    member.log_file.close()
    return code


def wait_until(
    condition: Callable[[], bool], what: str, *members: Member, timeout_s: float = 180
) -> None:
    """Poll `condition` until it holds; fail naming `what` after the deadline, or at once
    when a member exits."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        for member in members:
            member.alive()
        assert time.monotonic() < deadline, f"waited {timeout_s:.0f} s for {what}"
        time.sleep(0.1)


def applied(url: str, projection: str) -> tuple[int, int]:
    """(sum of claimed versions, claimed complaints) of `projection`: with every complaint
    claimed once per version, the sum equals the number of its events in the store."""
    engine = projection_engine_at(url)
    try:
        with engine.connect() as conn:
            if not engine.dialect.has_table(conn, versions.name):
                return 0, 0
            mine = versions.c.projection == projection
            total, rows = conn.execute(
                select(func.coalesce(func.sum(versions.c.version), 0), func.count()).where(mine)
            ).one()
            return int(total), int(rows)
    finally:
        engine.dispose()


def parked(url: str) -> int:
    engine = projection_engine_at(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(dead_letters)).scalar_one())
    finally:
        engine.dispose()


def all_applied(url: str, total: int) -> Callable[[], bool]:
    return lambda: all(applied(url, name)[0] == total for name in MODELS)


def split_between(a: Member, b: Member) -> bool:
    """Both members hold partitions, every partition is held, none by both."""
    mine, theirs = a.assigned(), b.assigned()
    if not mine or not theirs:
        return False
    return mine | theirs == set(range(PARTITIONS)) and not mine & theirs


def relay(app: LaporApp, kafka: KafkaSettings) -> None:
    Relay(app.recorder, app.mapper, kafka, batch_size=40, poll_interval=0.02).run(follow=False)


@pytest.mark.timeout(600)  # four waits of up to 180 s each on a loaded machine (85 s seen)
def test_two_processes_share_the_work_and_one_takes_over_when_the_other_dies(
    store: LaporApp, pg_settings: Settings, topic: KafkaSettings, tmp_path: Path
) -> None:
    url = pg_settings.read_model_url
    group = f"test-scaleout-{uuid.uuid4().hex[:8]}"
    first = start_member(pg_settings, group, tmp_path / "first.log")
    second = start_member(pg_settings, group, tmp_path / "second.log")
    members = (first, second)
    try:
        # Both joined before any record exists, so each reads only its own partitions.
        wait_until(lambda: split_between(first, second), "each member with partitions", *members)
        traffic(store, 40, NOW - timedelta(days=20))
        relay(store, topic)
        total = len(stored_events(store))
        wait_until(all_applied(url, total), f"{total} events in every model", *members)
        shares = [m.processed() for m in members]
        assert all(share > 0 for share in shares), f"records per member: {shares}"
        assert sum(shares) >= total  # a rebalance may hand a record over again (skipped)

        # One dies without leaving the group; the survivor is given every partition.
        assert stop(second, signal.SIGKILL) == -signal.SIGKILL
        traffic(store, 20, NOW - timedelta(days=5), seed="after-the-kill")
        relay(store, topic)
        total = len(stored_events(store))
        wait_until(
            lambda: first.assigned() == set(range(PARTITIONS)),
            "the survivor holding every partition",
            first,
        )
        wait_until(all_applied(url, total), f"{total} events after the kill", first)
    finally:
        codes = [stop(m) for m in members]
    assert codes[0] == 0, first.log_path.read_text()[-3000:]

    # Exactly once: each complaint claimed once per model, versions summing to the store.
    complaints = len({event[1] for event in stored_events(store)})
    for name in MODELS:
        assert applied(url, name) == (total, complaints), name
    assert parked(url) == 0
    # The tables equal a single in-process projector's run over the same store.
    read_model_service(pg_settings.model_copy(update={"projection_database_url": None})).catch_up(
        store.recorder, store.mapper
    )
    assert live_snapshot(url, pg_settings) == live_snapshot(pg_settings.database_url, pg_settings)
