"""Worker metrics from real processes on the shared PostgreSQL and Kafka: `lapor-es relay
--follow`, `project --from-kafka --follow` and `feeds route --follow` serve their families on
--metrics-port, and the counters and the lag follow the traffic they handle; `webhooks
deliver` (in-process) serves them too."""

from __future__ import annotations

import base64
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.cli import app
from lapor_es.config import Settings
from lapor_es.kafka.relay import Relay
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.observability.prometheus import stop_serving
from tests.conftest import NOW, fresh_postgres_database
from tests.support.builders import small_directory, traffic
from tests.support.kafka import free_port, read_topic, stored_events
from tests.support.server import start_server

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

FAMILIES = {
    "lapor_worker_processed_records",
    "lapor_worker_batch_duration_seconds",
    "lapor_worker_lag_records",
    "lapor_worker_retries",
    "lapor_worker_parked_records",
    "lapor_worker_consumer_restarts",
}


@pytest.fixture
def pg_settings(postgres_server: str) -> Settings:
    return Settings(
        database_url=fresh_postgres_database(postgres_server), reporter_pepper="test-pepper"
    )


@pytest.fixture
def pg_lapor(pg_settings: Settings) -> Iterator[LaporApp]:
    app = open_app(pg_settings, clock=lambda: NOW)
    yield app
    app.close()


def environment(settings: Settings, kafka: KafkaSettings, port: int) -> dict[str, str]:
    return os.environ | {
        "LAPOR_DATABASE_URL": settings.database_url,
        "LAPOR_REPORTER_PEPPER": "test-pepper",
        "LAPOR_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "LAPOR_KAFKA_TOPIC": kafka.topic,
        "LAPOR_KAFKA_PARTITIONS": str(kafka.partitions),
        "LAPOR_RELAY_TRANSACTIONAL_ID": kafka.transactional_id,
        "LAPOR_RELAY_BATCH_SIZE": "20",
        "LAPOR_LOG_FORMAT": "json",
        "LAPOR_METRICS_PORT": str(port),
    }


@contextmanager
def worker(*args: str, env: dict[str, str]) -> Iterator[subprocess.Popen[str]]:
    """`lapor-es <args>` running until the block ends (then SIGTERM, then its exit)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "lapor_es.cli", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            _, err = process.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            _, err = process.communicate()
        assert process.returncode == 0, err[-3000:]


def scrape(port: int) -> dict[str, float]:
    """Worker samples (histogram buckets left out) served on 127.0.0.1:port, {} if none yet."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return {}
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(text)
        if family.name in FAMILIES
        for sample in family.samples
        if "le" not in sample.labels
    }


def served_families(port: int) -> set[str]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
        text = answer.read().decode()
    return {f.name for f in text_string_to_metric_families(text) if f.name in FAMILIES}


def wait_for(
    port: int, process: subprocess.Popen[str], what: str, done: object, timeout_s: float = 120
) -> dict[str, float]:
    """Scrape until `done(samples)` holds; fail naming `what` after the deadline."""
    assert callable(done)
    deadline = time.monotonic() + timeout_s
    samples: dict[str, float] = {}
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the worker exited: {process.communicate()[1][-3000:]}"
        samples = scrape(port)
        if samples and done(samples):
            return samples
        time.sleep(0.2)
    raise AssertionError(f"waited {timeout_s:.0f} s for {what}; last scrape: {samples}")


def test_the_following_relay_serves_throughput_batches_and_lag(
    pg_lapor: LaporApp, pg_settings: Settings, kafka: KafkaSettings
) -> None:
    small_directory(pg_lapor)
    traffic(pg_lapor, 20, NOW - timedelta(days=10))
    first = len(stored_events(pg_lapor))
    port = free_port()
    with worker("relay", "--follow", env=environment(pg_settings, kafka, port)) as relay:
        samples = wait_for(
            port,
            relay,
            f"{first} events published",
            lambda s: s["lapor_worker_processed_records_total"] >= first,
        )
        assert served_families(port) == FAMILIES
        assert samples["lapor_worker_batch_duration_seconds_count"] >= first / 20
        # More traffic while it follows: the counter follows it, the lag returns to 0.
        traffic(pg_lapor, 5, NOW - timedelta(days=2), seed="later")
        total = len(stored_events(pg_lapor))
        samples = wait_for(
            port,
            relay,
            f"{total} events published",
            lambda s: s["lapor_worker_processed_records_total"] >= total,
        )
    assert samples["lapor_worker_processed_records_total"] == total  # exactly once
    assert samples["lapor_worker_lag_records"] == 0
    assert samples["lapor_worker_consumer_restarts_total"] == 0
    assert len(read_topic(kafka)) == total


def test_the_kafka_projector_and_the_router_serve_their_families(
    pg_lapor: LaporApp, pg_settings: Settings, kafka: KafkaSettings
) -> None:
    small_directory(pg_lapor)
    traffic(pg_lapor, 15, NOW - timedelta(days=10))
    Relay(pg_lapor.recorder, pg_lapor.mapper, kafka, batch_size=50).run(follow=False)
    records = len(read_topic(kafka))
    assert records > 0

    port = free_port()
    group = f"test-projector-{uuid.uuid4().hex[:8]}"
    env = environment(pg_settings, kafka, port)
    args = ("project", "--from-kafka", "--follow", "--group-id", group)
    with worker(*args, env=env) as projector:
        samples = wait_for(
            port,
            projector,
            f"{records} records projected",
            lambda s: s["lapor_worker_processed_records_total"] >= records,
        )
        assert served_families(port) == FAMILIES
    assert samples["lapor_worker_processed_records_total"] == records
    assert samples["lapor_worker_lag_records"] == 0
    assert samples["lapor_worker_parked_records_total"] == 0

    suffix = uuid.uuid4().hex[:8]
    port = free_port()
    env = environment(pg_settings, kafka, port) | {
        "LAPOR_FEEDS_TOPIC_PREFIX": f"test.agency.{suffix}.",
        "LAPOR_FEEDS_ROUTER_ID": f"test-router-{suffix}",
        "LAPOR_FEEDS_ROUTER_TOPICS": f"test.router.{suffix}",
    }
    with worker("feeds", "route", "--follow", env=env) as router:
        samples = wait_for(
            port,
            router,
            f"{records} records routed",
            lambda s: s["lapor_worker_processed_records_total"] >= records,
        )
        assert served_families(port) == FAMILIES
    assert samples["lapor_worker_batch_duration_seconds_count"] >= 1
    assert samples["lapor_worker_lag_records"] == 0


def test_webhooks_deliver_serves_its_families_in_process(
    tmp_path: Path, kafka: KafkaSettings
) -> None:
    """`webhooks deliver` run in-process (no endpoint registered: it catches up at once)."""
    port = free_port()
    env = {
        "LAPOR_DATABASE_URL": f"sqlite:///{tmp_path}/lapor.sqlite3",
        "LAPOR_REPORTER_PEPPER": "test-pepper",
        "LAPOR_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "LAPOR_KAFKA_TOPIC": kafka.topic,
        "LAPOR_WEBHOOKS_SECRET_KEY": base64.b64encode(os.urandom(32)).decode(),
        "LAPOR_LOG_FORMAT": "json",
        "LAPOR_METRICS_PORT": str(port),
    }
    try:
        done = CliRunner().invoke(app, ["webhooks", "deliver", "--until-caught-up"], env=env)
        assert done.exit_code == 0, done.output
        assert served_families(port) == FAMILIES
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            assert 'lapor_worker_retries_total{role="webhooks"} 0.0' in answer.read().decode()
    finally:
        stop_serving()


def test_serve_project_shows_its_projector_on_the_doors_metrics(tmp_path: Path) -> None:
    """`serve --project`: the in-process projector's families are on the door's /metrics."""
    running = start_server(f"sqlite:///{tmp_path}/lapor.sqlite3", tmp_path, "--project")
    try:
        deadline = time.monotonic() + 60
        text = ""
        while time.monotonic() < deadline and "lapor_worker_" not in text:
            text = httpx.get(f"{running.base_url}/metrics", timeout=5).text
            time.sleep(0.2)  # the projector thread installs its recorder as it starts
        families = {f.name for f in text_string_to_metric_families(text) if f.name in FAMILIES}
        assert families == FAMILIES, running.log_tail()
        assert 'lapor_worker_processed_records_total{role="projector"}' in text
        assert "lapor_http_requests_total" in text  # the door's own, beside them
    finally:
        running.stop()
