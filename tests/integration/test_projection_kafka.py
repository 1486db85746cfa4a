"""Read models fed from Kafka (real broker, real PostgreSQL/SQLite): the same tables as
in-process, exactly once under SIGKILL, shared partitions, off-contract records, rebuild."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from kafka import KafkaAdminClient, KafkaProducer
from sqlalchemy import func, select

from lapor_es.application import LaporApp
from lapor_es.bootstrap import projection_engine_at
from lapor_es.config import Settings
from lapor_es.kafka.relay import Relay
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.projections.core import dead_letters, versions
from lapor_es.projections.rebuild import TopicFeed
from tests.conftest import NOW, fresh_postgres_database
from tests.support.builders import small_directory, traffic
from tests.support.kafka import stored_events
from tests.support.projections import live_snapshot, read_model_service

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def relay_all(app: LaporApp, kafka: KafkaSettings) -> None:
    Relay(app.recorder, app.mapper, kafka, batch_size=40, poll_interval=0.02).run(follow=False)


def projector_settings(settings: Settings, kafka: KafkaSettings, url: str, **more: Any) -> Settings:
    return settings.model_copy(
        update={
            "projection_database_url": url,
            "kafka_bootstrap": kafka.bootstrap,
            "kafka_topic": kafka.topic,
            **more,
        }
    )


def another_database(settings: Settings, name: str) -> str:
    if settings.database_url.startswith("sqlite"):
        return settings.database_url.replace("lapor.sqlite3", f"{name}.sqlite3")
    return fresh_postgres_database(settings.database_url)


def applied_versions(url: str, projection: str = "complaints") -> int:
    """Sum of claimed versions = events applied to `projection` (each claimed once).
    Polled in wait loops: its engine is disposed at once."""
    engine = projection_engine_at(url)
    try:
        with engine.connect() as conn:
            if not engine.dialect.has_table(conn, versions.name):
                return 0
            return int(
                conn.execute(
                    select(func.coalesce(func.sum(versions.c.version), 0)).where(
                        versions.c.projection == projection
                    )
                ).scalar_one()
            )
    finally:
        engine.dispose()


@pytest.fixture
def loaded(lapor: LaporApp, kafka: KafkaSettings) -> Iterator[LaporApp]:
    """A store with traffic, all relayed to this test's topic (3 partitions)."""
    small_directory(lapor)
    traffic(lapor, 45, NOW - timedelta(days=25))
    relay_all(lapor, kafka)
    yield lapor


def test_in_process_and_from_kafka_give_identical_tables(
    loaded: LaporApp, settings: Settings, kafka: KafkaSettings
) -> None:
    # In-process, into the store's database.
    read_model_service(settings).catch_up(loaded.recorder, loaded.mapper)
    consumer = projector_settings(settings, kafka, another_database(settings, "kafka"))
    stats = read_model_service(consumer).run_projector(
        f"test-{uuid.uuid4().hex[:8]}", follow=False, idle_timeout=1.0
    )
    assert stats.events == len(stored_events(loaded)) and stats.parked == 0
    local = live_snapshot(settings.read_model_url, settings)
    assert local["complaint_facts"] and local["complaint_timeline"]
    assert live_snapshot(consumer.read_model_url, consumer) == local

    report = read_model_service(consumer).status(recorder=loaded.recorder, group_id="nobody")
    rows = [r for r in report["projections"] if r["source"] == kafka.topic]
    assert {r["partition"] for r in rows} == {0, 1, 2}
    assert all(r["lag"] == 0 for r in rows), rows
    assert report["relay"]["behind_store"] == 0 and report["dead_letters"] == {}


def projector_process(
    settings: Settings, group_id: str, *args: str, batch_size: int = 5
) -> subprocess.Popen[str]:
    env = os.environ | {
        "LAPOR_DATABASE_URL": settings.database_url,
        "LAPOR_PROJECTION_DATABASE_URL": settings.read_model_url,
        "LAPOR_REPORTER_PEPPER": "test-pepper",
        "LAPOR_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap),
        "LAPOR_KAFKA_TOPIC": settings.kafka_topic,
        "LAPOR_PROJECTOR_BATCH_SIZE": str(batch_size),
        "LAPOR_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "lapor_es.cli",
            "project",
            "--from-kafka",
            "--group-id",
            group_id,
            *args,
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(
    condition: Any, what: str, *procs: subprocess.Popen[str] | None, timeout_s: float = 120
) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        for proc in procs:
            if proc is not None and proc.poll() is not None:
                _, err = proc.communicate()
                raise AssertionError(f"projector exited {proc.returncode}: {err[-3000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def test_projector_killed_mid_batch_resumes_exactly_once(
    loaded: LaporApp, settings: Settings, kafka: KafkaSettings
) -> None:
    total = len(stored_events(loaded))  # = the sum of each complaint's last version
    consumer = projector_settings(settings, kafka, another_database(settings, "kafka"))
    group = f"test-kill-{uuid.uuid4().hex[:8]}"
    for fraction in (0.2, 0.6):  # two kills at different points
        proc = projector_process(consumer, group, "--follow")
        try:
            wait_until(
                lambda f=fraction: applied_versions(consumer.read_model_url) >= total * f,
                "progress",
                proc,
            )
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        assert 0 < applied_versions(consumer.read_model_url) < total  # killed mid-way
    proc = projector_process(consumer, group, "--follow")
    try:
        wait_until(
            lambda: all(
                applied_versions(consumer.read_model_url, name) == total
                for name in ("complaints", "inbox", "timeline", "deadlines")
            ),
            "catch-up after the kills",
            proc,
        )
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert json.loads(out.splitlines()[-1])["parked"] == 0
    read_model_service(settings).catch_up(loaded.recorder, loaded.mapper)
    assert live_snapshot(consumer.read_model_url, consumer) == live_snapshot(
        settings.read_model_url, settings
    )


def group_members(bootstrap: str, group: str) -> int:
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        described = admin.describe_groups([group])
    finally:
        admin.close()
    return len(described.get(group, {}).get("members", []))


def test_two_projectors_in_one_group_share_the_partitions(
    loaded: LaporApp, settings: Settings, kafka: KafkaSettings
) -> None:
    total = len(stored_events(loaded))  # = the sum of each complaint's last version
    consumer = projector_settings(settings, kafka, another_database(settings, "kafka"))
    group = f"test-share-{uuid.uuid4().hex[:8]}"
    first = projector_process(consumer, group, "--follow", batch_size=3)
    second: subprocess.Popen[str] | None = None
    try:
        wait_until(lambda: applied_versions(consumer.read_model_url) > 0, "first progress", first)
        second = projector_process(consumer, group, "--follow", batch_size=3)  # rebalance
        # Until the second process has joined it may still be starting (no signal handler).
        wait_until(lambda: group_members(kafka.bootstrap, group) == 2, "second joins", second)
        wait_until(
            lambda: all(
                applied_versions(consumer.read_model_url, name) == total
                for name in ("complaints", "inbox", "timeline", "deadlines")
            ),
            "both caught up",
            first,
            second,
        )
    finally:
        logs = []
        for proc in (first, second):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                _, err = proc.communicate(timeout=60)
                assert proc.returncode == 0, err
                logs.append(err)
    assigned = [
        [json.loads(line) for line in log.splitlines() if '"projector.assigned"' in line]
        for log in logs
    ]
    # Both members went through the group's assignment (the second joined while the first was
    # working); which partitions each held at which moment depends on timing, so what is
    # asserted is the outcome: the tables equal a single in-process run, nothing counted twice.
    assert assigned[0] and assigned[1]
    read_model_service(settings).catch_up(loaded.recorder, loaded.mapper)
    assert live_snapshot(consumer.read_model_url, consumer) == live_snapshot(
        settings.read_model_url, settings
    )


def test_an_off_contract_record_is_parked_and_does_not_stop_the_partition(
    lapor: LaporApp, settings: Settings, kafka: KafkaSettings
) -> None:
    small_directory(lapor)
    traffic(lapor, 10, NOW - timedelta(days=20))
    relay_all(lapor, kafka)
    complaint = stored_events(lapor)[0][1]
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    producer.send(kafka.topic, key=complaint.encode(), value=b"{not an event")
    producer.flush()
    producer.close()
    traffic(lapor, 10, NOW - timedelta(days=10), seed="later")
    relay_all(lapor, kafka)  # the junk record sits between real ones

    consumer = projector_settings(settings, kafka, another_database(settings, "kafka"))
    stats = read_model_service(consumer).run_projector(
        f"test-{uuid.uuid4().hex[:8]}", follow=False, idle_timeout=1.0
    )
    assert stats.events == len(stored_events(lapor)) and stats.parked == 0
    parked = read_model_service(consumer).open_dead_letters()
    assert {r["projection"] for r in parked} == {"complaints", "inbox", "timeline", "deadlines"}
    assert all(r["error"].startswith("undecodable record") for r in parked)
    assert all(r["complaint_id"] == complaint for r in parked)
    read_model_service(settings).catch_up(lapor.recorder, lapor.mapper)
    assert live_snapshot(consumer.read_model_url, consumer) == live_snapshot(
        settings.read_model_url, settings
    )
    # Retrying cannot turn it into an event: it stays open, nothing else breaks.
    projected = read_model_service(consumer)
    retried = projected.retry_dead_letters()
    assert retried.applied == 0 and retried.skipped == len(parked)
    with projected.engine.connect() as conn:
        still = conn.execute(
            select(func.count()).where(dead_letters.c.resolved_at.is_(None))
        ).scalar_one()
    assert still == len(parked)


def test_rebuild_from_kafka_equals_live(
    loaded: LaporApp, settings: Settings, kafka: KafkaSettings
) -> None:
    read_model_service(settings).catch_up(loaded.recorder, loaded.mapper)
    before = live_snapshot(settings.read_model_url, settings)
    with_kafka = projector_settings(settings, kafka, settings.read_model_url)
    result = read_model_service(with_kafka).rebuild("timeline", TopicFeed(kafka, 25))
    assert result.source == kafka.topic and result.events == len(stored_events(loaded))
    assert live_snapshot(settings.read_model_url, settings) == before
    # The rebuilt model resumes: new events once, via the store tracking it kept.
    traffic(loaded, 3, NOW - timedelta(days=2), seed="after")
    read_model_service(settings).catch_up(loaded.recorder, loaded.mapper)
    other = settings.model_copy(
        update={"projection_database_url": another_database(settings, "other")}
    )
    read_model_service(other).catch_up(loaded.recorder, loaded.mapper)
    assert live_snapshot(settings.read_model_url, settings) == live_snapshot(
        other.read_model_url, other
    )
