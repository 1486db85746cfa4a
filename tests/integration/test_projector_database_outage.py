"""A Kafka projector waits out an unreachable read-model database for `database_outage_s`,
then stops with an error that says what it waited for; and an outage it recovered from does
not count against the next one. (A restart it rides out is in the fault soak.)"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import psycopg
import pytest

from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from lapor_es.kafka.relay import Relay
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.projections.runners import KafkaRunner, ProjectorDatabaseError
from tests.conftest import NOW, fresh_postgres_database
from tests.support.builders import small_directory, traffic
from tests.support.projections import read_model_service

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.postgres]


def test_a_database_gone_for_longer_than_the_limit_stops_the_projector_by_name(
    postgres_server: str, kafka: KafkaSettings, tmp_path: Path
) -> None:
    url = fresh_postgres_database(postgres_server)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/store.sqlite3",
        projection_database_url=url,
        reporter_pepper="p",
    )
    app = open_app(settings, clock=lambda: NOW)
    try:
        small_directory(app)
        traffic(app, 3, NOW - timedelta(days=2))
        Relay(app.recorder, app.mapper, kafka, poll_interval=0.02).run(follow=False)
    finally:
        app.close()
    read_models = read_model_service(settings)
    projector = read_models.open_projector(read_models.models())
    with psycopg.connect(postgres_server, autocommit=True) as admin:  # the database goes away
        admin.execute(f'DROP DATABASE "{url.rsplit("/", 1)[1]}" WITH (FORCE)')
    runner = KafkaRunner(kafka, f"{kafka.topic}.outage", projector, database_outage_s=2.0)
    with pytest.raises(ProjectorDatabaseError, match="read-model database stayed unreachable"):
        runner.run(follow=False, idle_timeout=1.0)
    assert runner.stats.restarts >= 1  # it waited (fresh consumers) before giving up
