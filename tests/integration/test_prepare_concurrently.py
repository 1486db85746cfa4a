"""Two projector processes starting together on a fresh read-model database both prepare it
(migrations, then views dropped and created again). Found by the fault soak: the second
one's CREATE VIEW collided with the first's (DuplicateTable, or UniqueViolation on the
catalogue) and it exited. Preparing is serialized now; both succeed, every round."""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, inspect

from lapor_es.config import Settings, sqlalchemy_url
from lapor_es.readmodels import migrations
from lapor_es.readmodels.registry import read_models
from tests.conftest import fresh_postgres_database
from tests.support.concurrently import errors_at_once

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
ROUNDS = 5
PREPARERS = 4


def prepare_at_once(url: str) -> list[BaseException]:
    """PREPARERS threads, each with an engine of its own (as separate processes have),
    prepare the same database at the same moment; the errors they raised."""
    settings = Settings(database_url=url, reporter_pepper="test-pepper")
    models = read_models(settings.calendar, settings.sla_policy)

    def prepare() -> None:
        engine = create_engine(sqlalchemy_url(url))
        try:
            migrations.prepare(engine, models)
        finally:
            engine.dispose()

    return errors_at_once(prepare, PREPARERS)


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
