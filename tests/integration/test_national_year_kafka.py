"""The national year through the whole pipeline: the simulator's commands into PostgreSQL,
the relay onto a real Kafka topic, the Kafka projector into another PostgreSQL database;
the statistics equal those of the in-process projection, to the last complaint."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from lapor_es.kafka.relay import Relay
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.readmodels import stats as st
from lapor_es.readmodels.complaints import ComplaintsModel
from lapor_es.simulation import PlanParams, simulate
from tests.conftest import fresh_postgres_database
from tests.support.projections import read_model_service

pytestmark = [pytest.mark.integration, pytest.mark.kafka, pytest.mark.postgres]
COMPLAINTS = 300


def statistics(settings: Settings, cohort: st.Cohort) -> dict[str, list[Any]]:
    model = ComplaintsModel(calendar=settings.calendar)
    with read_model_service(settings).engine.connect() as conn:
        return {
            "total": st.completion(conn, model, cohort),
            "by_agency": st.completion(conn, model, cohort, by="agency"),
            "by_category": st.completion(conn, model, cohort, by="category"),
            "durations": st.durations(conn, model, cohort),
            "sla": st.sla_compliance(conn, model, cohort),
        }


# The longest test of the suite (about 40 s on a loaded 2-core machine): a simulated year
# through two PostgreSQL databases, the relay and a Kafka consumer group whose join and
# idle wait alone take several seconds; its run time grows with COMPLAINTS and with the
# broker's load, so it gets twice the default limit.
@pytest.mark.timeout(600)
def test_simulated_year_has_the_same_statistics_from_kafka_and_in_process(
    postgres_server: str, kafka: KafkaSettings
) -> None:
    store = Settings(
        database_url=fresh_postgres_database(postgres_server), reporter_pepper="test-pepper"
    )
    params = PlanParams(complaints=COMPLAINTS)
    app = open_app(store)
    try:
        _, report = simulate(app, params)
        assert report.rejected.total() == 0 and report.complaints == COMPLAINTS
        Relay(app.recorder, app.mapper, kafka, batch_size=200).run(follow=False)
        # In-process, into the store's database.
        read_model_service(store).catch_up(app.recorder, app.mapper)
    finally:
        app.close()

    from_kafka = store.model_copy(
        update={
            "projection_database_url": fresh_postgres_database(postgres_server),
            "kafka_bootstrap": kafka.bootstrap,
            "kafka_topic": kafka.topic,
        }
    )
    run = read_model_service(from_kafka).run_projector(
        "test-national-year", follow=False, idle_timeout=2.0
    )
    assert run.parked == 0

    cohort = st.Cohort(date(params.year, 1, 1), date(params.year, 12, 31), params.as_of)
    in_process, via_kafka = statistics(store, cohort), statistics(from_kafka, cohort)
    assert via_kafka == in_process
    [total] = in_process["total"]
    assert isinstance(total, st.CompletionRow)
    # The simulator draws exactly round(84.46% of N) complaints to be resolved by year end.
    assert (total.filed, total.resolved) == (COMPLAINTS, round(0.8446 * COMPLAINTS))
