"""A small simulated year through LaporApp, on SQLite and PostgreSQL: no command refused,
every complaint ends the year in the planned state, the completion rate computed from the
aggregates is the published one, and two fresh stores get identical histories."""

from __future__ import annotations

import importlib.util
from collections import Counter
from collections.abc import Iterator
from datetime import datetime

import pytest

from lapor_es.application import LaporApp
from lapor_es.config import Settings
from lapor_es.simulation import PlanParams, RunReport, SimulationPlan, simulate
from tests.conftest import NOW, fresh_postgres_database

N = 400
PARAMS = PlanParams(seed=11, complaints=N, days=40)


@pytest.fixture
def simulated(lapor: LaporApp) -> tuple[LaporApp, SimulationPlan, RunReport]:
    plan, report = simulate(lapor, PARAMS, batch_size=700)
    return lapor, plan, report


def test_no_command_is_refused(simulated: tuple[LaporApp, SimulationPlan, RunReport]) -> None:
    _, plan, report = simulated
    assert report.rejections == []
    assert sum(report.rejected.values()) == 0
    assert report.complaints == N
    assert report.commands == plan.command_count
    assert report.events >= report.commands  # every command stores at least one event


def test_each_complaint_ends_the_year_as_planned(
    simulated: tuple[LaporApp, SimulationPlan, RunReport],
) -> None:
    app, plan, report = simulated
    states = Counter()
    for tracking_id, planned in zip(report.tracking_ids, plan.complaints, strict=True):
        complaint = app.complaint(tracking_id)
        assert str(complaint.state) == planned.final_state, tracking_id
        assert complaint.last_event_at <= plan.as_of
        states[str(complaint.state)] += 1
    assert dict(states) == plan.final_states()


def test_completion_as_of_the_year_end_is_the_published_rate(
    simulated: tuple[LaporApp, SimulationPlan, RunReport],
) -> None:
    app, plan, report = simulated
    cohort = [app.complaint(t) for t in report.tracking_ids]
    assert all(c.tracking_id.startswith("LAP-2022-") for c in cohort)
    resolved = sum(
        1
        for c in cohort
        if str(c.state) == "RESOLVED" and c.resolved_at is not None and c.resolved_at <= plan.as_of
    )
    assert resolved / len(cohort) == int(0.8446 * N + 0.5) / N  # 338 of 400


@pytest.mark.skipif(
    importlib.util.find_spec("lapor_es.projections.stats") is None,
    reason="the statistics projection is not there yet",
)
def test_the_statistics_projection_agrees(
    simulated: tuple[LaporApp, SimulationPlan, RunReport],
) -> None:  # pragma: no cover - depends on another module's API
    from lapor_es.projections import stats

    app, plan, _ = simulated
    rate = stats.completion_rate_for(app, plan)  # type: ignore[attr-defined]
    assert rate == pytest.approx(int(0.8446 * N + 0.5) / N)


def _hashes(app: LaporApp, tracking_ids: list[str]) -> list[list[str]]:
    return [
        [e.event_hash for e in app.history(app.complaint(t).id)]  # type: ignore[attr-defined]
        for t in tracking_ids
    ]


@pytest.fixture
def second_store(
    request: pytest.FixtureRequest, database_url: str, tmp_path: object
) -> Iterator[LaporApp]:
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/second.sqlite3"
    else:
        url = fresh_postgres_database(request.getfixturevalue("postgres_server"))
    other = LaporApp(
        Settings(database_url=url, reporter_pepper="another-pepper"), clock=lambda: NOW
    )
    yield other
    other.close()


def test_same_seed_same_histories_on_fresh_stores(lapor: LaporApp, second_store: LaporApp) -> None:
    params = PlanParams(seed=5, complaints=120, days=20)
    _, first = simulate(lapor, params)
    _, second = simulate(second_store, params)
    assert first.tracking_ids == second.tracking_ids
    assert _hashes(lapor, first.tracking_ids) == _hashes(second_store, second.tracking_ids)
    assert isinstance(NOW, datetime)
