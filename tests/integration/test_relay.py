"""The relay on a real Kafka broker: every stored event on the topic exactly once, in order,
including when the relay is killed mid-batch and when the broker restarts under it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from cloudevents.v1.kafka import KafkaMessage, from_binary

from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from lapor_es.kafka.relay import Relay, committed_position
from lapor_es.kafka.settings import KafkaSettings
from tests.conftest import NOW
from tests.support.builders import NIK, PHONE, file_cmd, small_directory, traffic
from tests.support.kafka import (
    assert_exactly_once_in_order,
    own_broker,
    read_topic,
    stored_events,
)

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


def relay_for(app: LaporApp, kafka: KafkaSettings, batch_size: int = 50) -> Relay:
    return Relay(app.recorder, app.mapper, kafka, batch_size=batch_size, poll_interval=0.02)


def test_every_stored_event_is_published_once_in_order(
    lapor: LaporApp, kafka: KafkaSettings
) -> None:
    small_directory(lapor)
    traffic(lapor, 40, NOW - timedelta(days=20))
    stats = relay_for(lapor, kafka, batch_size=17).run(follow=False)
    stored = stored_events(lapor)
    assert stats.published == len(stored) >= 150
    assert_exactly_once_in_order(read_topic(kafka), stored)

    # Running again publishes nothing; new events are published after the old ones.
    assert relay_for(lapor, kafka).run(follow=False).published == 0
    traffic(lapor, 5, NOW - timedelta(days=2), seed="later")
    again = relay_for(lapor, kafka).run(follow=False)
    stored = stored_events(lapor)
    assert again.published == len(stored) - stats.published
    assert_exactly_once_in_order(read_topic(kafka), stored)
    assert committed_position(kafka) == stored[-1][0]


def relay_process(
    settings: Settings, kafka: KafkaSettings, *args: str, batch_size: int = 7
) -> subprocess.Popen[str]:
    env = os.environ | {
        "LAPOR_DATABASE_URL": settings.database_url,
        "LAPOR_REPORTER_PEPPER": "test-pepper",
        "LAPOR_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "LAPOR_KAFKA_TOPIC": kafka.topic,
        "LAPOR_KAFKA_PARTITIONS": str(kafka.partitions),
        "LAPOR_RELAY_TRANSACTIONAL_ID": kafka.transactional_id,
        "LAPOR_RELAY_BATCH_SIZE": str(batch_size),
        "LAPOR_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "lapor_es.cli", "relay", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for_records(kafka: KafkaSettings, at_least: int, timeout_s: float = 60) -> int:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            count = len(read_topic(kafka, isolation="read_uncommitted"))
        except AssertionError:
            count = 0
        if count >= at_least:
            return count
        time.sleep(0.05)
    raise AssertionError(f"fewer than {at_least} records after {timeout_s}s")


def test_relay_killed_mid_batch_resumes_without_loss_or_duplicates(
    lapor: LaporApp, settings: Settings, kafka: KafkaSettings
) -> None:
    small_directory(lapor)
    traffic(lapor, 120, NOW - timedelta(days=30))
    stored = stored_events(lapor)
    kills = 0
    for threshold in (60, 250):  # two kills, at different points of the log
        proc = relay_process(settings, kafka, "--follow")
        try:
            wait_for_records(kafka, threshold)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
            kills += 1
    # What a read_uncommitted reader saw may include aborted batches; committed data not.
    done = relay_process(settings, kafka, "--until-caught-up")
    out, err = done.communicate(timeout=120)
    assert done.returncode == 0, err
    assert kills == 2 and json.loads(out.splitlines()[-1])["position"] == stored[-1][0]
    assert_exactly_once_in_order(read_topic(kafka), stored)


def test_relay_survives_a_broker_restart(
    lapor: LaporApp, kafka: KafkaSettings, tmp_path: Path
) -> None:
    # A broker of the test's own: restarting the shared one would pull it from under every
    # other test (and it may not have been started by deploy/kafka here at all).
    with own_broker(tmp_path / "kafka") as broker:
        kafka = replace(kafka, bootstrap=broker.bootstrap)
        small_directory(lapor)
        traffic(lapor, 30, NOW - timedelta(days=30))
        relay = relay_for(lapor, kafka, batch_size=10)
        worker = threading.Thread(target=relay.run, kwargs={"follow": True})
        worker.start()
        try:
            wait_for_records(kafka, 50)
            broker.launcher("stop", keep_data=True)
            broker.launcher("start", keep_data=True)
            traffic(lapor, 30, NOW - timedelta(days=10), seed="after-restart")
            stored = stored_events(lapor)
            deadline = time.monotonic() + 120
            while relay.stats.position < stored[-1][0]:
                assert time.monotonic() < deadline, "relay did not catch up after the restart"
                time.sleep(0.1)
        finally:
            relay.stop.set()
            worker.join(timeout=60)
        assert_exactly_once_in_order(read_topic(kafka), stored)


def test_concurrent_writers_while_the_relay_follows(
    lapor: LaporApp, settings: Settings, kafka: KafkaSettings
) -> None:
    small_directory(lapor)
    relay = relay_for(lapor, kafka, batch_size=20)
    worker = threading.Thread(target=relay.run, kwargs={"follow": True})
    worker.start()
    writers = [open_app(settings) for _ in range(3)]
    try:
        threads = [
            threading.Thread(
                target=traffic, args=(w, 15, NOW - timedelta(days=9)), kwargs={"seed": f"writer{i}"}
            )
            for i, w in enumerate(writers)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stored = stored_events(lapor)
        deadline = time.monotonic() + 60
        while relay.stats.position < stored[-1][0]:
            assert time.monotonic() < deadline, "relay did not catch up"
            time.sleep(0.05)
    finally:
        relay.stop.set()
        worker.join(timeout=60)
        for w in writers:
            w.close()
    assert len({cid for _, cid, v in stored if v == 1}) == 45
    assert_exactly_once_in_order(read_topic(kafka), stored)


def test_records_are_cloudevents_in_binary_mode(lapor: LaporApp, kafka: KafkaSettings) -> None:
    small_directory(lapor)
    traffic(lapor, 4, NOW - timedelta(days=5))
    relay_for(lapor, kafka).run(follow=False)
    records = read_topic(kafka)
    assert records
    for record in records:
        event = from_binary(
            KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
        )
        assert event["specversion"] == "1.0"
        assert event["source"] == "/lapor-es/complaints"
        assert event["type"].startswith("id.go.lapor.complaint.")
        assert event["id"] == f"{record.key.decode()}:{event['complaintversion']}"
        assert event["subject"].startswith("LAP-")
        assert event["datacontenttype"] == "application/json"
        data = event.data
        assert isinstance(data, dict) and data["event_hash"] == event["eventhash"]
        assert str(data["version"]) == event["complaintversion"]


def test_no_identity_on_the_topic(lapor: LaporApp, kafka: KafkaSettings) -> None:
    small_directory(lapor)
    email, name = "rahasia@example.id", "Nama Pelapor Rahasia"
    out = lapor.handle(
        parse(
            file_cmd(
                visibility="anonymous",
                reporter={
                    "name": name,
                    "phone": PHONE,
                    "nik": NIK,
                    "email": email,
                    "address": "Jl. Sunyi 9",
                },
            )
        )
    )
    relay_for(lapor, kafka).run(follow=False)
    raw = b"".join(
        r.key + r.value + b"".join(k.encode() + v for k, v in r.headers) for r in read_topic(kafka)
    )
    assert out.tracking_id and out.tracking_id.encode() in raw
    for secret in (PHONE, NIK, email, name, "Jl. Sunyi", str(out.reporter_ref)):
        assert secret.encode() not in raw, f"{secret!r} is on the topic"


def parse(command: dict[str, object]):  # type: ignore[no-untyped-def]
    from lapor_es.commands import parse_command

    return parse_command(command)


def test_relay_from_postgres_and_sqlite_alike(
    tmp_path: Path, postgres_server: str, kafka_bootstrap: str
) -> None:
    """The same history published from each store gives the same payloads."""
    from tests.conftest import fresh_postgres_database

    payloads = []
    for url in (f"sqlite:///{tmp_path}/a.sqlite3", fresh_postgres_database(postgres_server)):
        app = open_app(Settings(database_url=url, reporter_pepper="test-pepper"), clock=lambda: NOW)
        try:
            small_directory(app)
            traffic(app, 6, NOW - timedelta(days=3))
            kafka = KafkaSettings(
                bootstrap=kafka_bootstrap,
                topic=f"test.stores.{os.urandom(4).hex()}",
                partitions=2,
                transactional_id=f"test-stores-{os.urandom(4).hex()}",
            )
            relay_for(app, kafka).run(follow=False)
            # By tracking id: the complaint UUIDs (the keys) differ between stores, since
            # each store derives them in a namespace of its own (issue 10 item 9d).
            published = [json.loads(r.value) for r in read_topic(kafka)]
            payloads.append(sorted((p["tracking_id"], p["version"], p["type"]) for p in published))
        finally:
            app.close()
    assert payloads[0] == payloads[1] and len(payloads[0]) > 20
