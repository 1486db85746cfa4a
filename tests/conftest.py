"""Fixtures shared by all tests: stores on SQLite (a temp file) and on real PostgreSQL."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest

from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from lapor_es.kafka.settings import KafkaSettings

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # Monday 09:00 WIB


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """URL of a real PostgreSQL server: LAPOR_TEST_DATABASE_URL, or one started from deploy/.

    Outside CI a machine without PostgreSQL skips these tests; in CI (CI=true) that is a
    failure, so a green CI always means the PostgreSQL tests ran.
    """
    from tests.support.services import ci_mode, ensure_postgres

    try:
        url = ensure_postgres()
    except Exception as exc:
        if ci_mode():
            pytest.fail(f"PostgreSQL is required in CI and could not be started: {exc}")
        pytest.skip(f"PostgreSQL not available: {exc}")
    yield url


def fresh_postgres_database(server_url: str) -> str:
    import psycopg

    name = f"lapor_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: os.PathLike[str]) -> str:
    """The same test on the embedded store and on PostgreSQL, each empty."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/lapor.sqlite3"
    server = request.getfixturevalue("postgres_server")
    return fresh_postgres_database(server)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, reporter_pepper="test-pepper")


@pytest.fixture
def lapor(settings: Settings) -> Iterator[LaporApp]:
    app = open_app(settings, clock=lambda: NOW)
    yield app
    app.close()


@pytest.fixture(scope="session")
def kafka_bootstrap() -> Iterator[str]:
    """A real Kafka broker: LAPOR_KAFKA_BOOTSTRAP, or one started from deploy/kafka.

    As with PostgreSQL: skipped outside CI when Kafka cannot be had, a failure in CI.
    """
    from tests.support.services import ci_mode, ensure_kafka

    try:
        bootstrap = ensure_kafka()
    except Exception as exc:
        if ci_mode():
            pytest.fail(f"Kafka is required in CI and could not be started: {exc}")
        pytest.skip(f"Kafka not available: {exc}")
    yield bootstrap


@pytest.fixture
def kafka(kafka_bootstrap: str) -> KafkaSettings:
    """Relay settings on a topic of this test's own, so tests never see each other's records."""

    suffix = uuid.uuid4().hex[:10]
    return KafkaSettings(
        bootstrap=kafka_bootstrap,
        topic=f"test.complaints.{suffix}",
        partitions=3,
        transactional_id=f"test-relay-{suffix}",
    )


@pytest.fixture(autouse=True)
def _dispose_read_model_engines() -> Iterator[None]:
    """Engines built by tests.support.projections.read_model_service live for one test."""
    from tests.support.projections import dispose_engines

    yield
    dispose_engines()


@pytest.fixture(autouse=True)
def _fresh_logging() -> Iterator[None]:
    """Each test starts with structlog's defaults: a command run in-process earlier may have
    configured a level filter that would hide the logs a later test captures."""
    import structlog

    structlog.reset_defaults()
    yield
    structlog.reset_defaults()
