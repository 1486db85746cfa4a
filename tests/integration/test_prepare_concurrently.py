"""Two projector processes starting together on a fresh read-model database both prepare it
(migrations, then views dropped and created again). Found by the fault soak: the second
one's CREATE VIEW collided with the first's (DuplicateTable, or UniqueViolation on the
catalogue) and it exited. Preparing is serialized now; both succeed, every round."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import create_engine, inspect

from lapor_es.config import Settings, sqlalchemy_url
from lapor_es.readmodels import migrations
from lapor_es.readmodels.registry import read_models
from tests.conftest import fresh_postgres_database

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
ROUNDS = 5
PREPARERS = 4


def prepare_at_once(url: str) -> list[BaseException]:
    """PREPARERS threads, each with an engine of its own (as separate processes have),
    prepare the same database at the same moment; the errors they raised."""
    settings = Settings(database_url=url, reporter_pepper="test-pepper")
    models = read_models(settings.calendar, settings.sla_policy)
    start = threading.Barrier(PREPARERS, timeout=60)
    errors: list[BaseException] = []

    def prepare() -> None:
        engine = create_engine(sqlalchemy_url(url))
        try:
            start.wait()
            migrations.prepare(engine, models)
        except BaseException as exc:  # collected, asserted by the test
            errors.append(exc)
        finally:
            engine.dispose()

    threads = [threading.Thread(target=prepare) for _ in range(PREPARERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a preparer hung past 120 s"
    return errors


def test_projectors_starting_together_all_prepare_the_database(postgres_server: str) -> None:
    for _ in range(ROUNDS):
        url = fresh_postgres_database(postgres_server)
        errors = prepare_at_once(url)
        assert errors == []
        engine = create_engine(sqlalchemy_url(url))
        try:
            views = set(inspect(engine).get_view_names())
        finally:
            engine.dispose()
        assert "v_complaints" in views
