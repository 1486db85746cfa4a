"""A small simulated year through LaporApp, on SQLite and PostgreSQL: no command refused,
every complaint ends the year in the planned state, the completion rate computed from the
aggregates (and by the statistics projection) is the published one, and two fresh stores
get identical histories."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from lapor_es.simulation import PlanParams, simulate
from tests.conftest import NOW, fresh_postgres_database

N = 400
EXPECTED_RESOLVED = int(0.8446 * N + 0.5)  # 338: 84.46% of 400, rounded half up


def test_a_small_year_runs_clean_and_completes_at_the_published_rate(
    lapor: LaporApp, settings: Settings
) -> None:
    plan, report = simulate(lapor, PlanParams(seed=11, complaints=N, days=40), batch_size=700)

    # Nothing refused: any refusal would be a bug in the plan.
    assert report.rejections == []
    assert sum(report.rejected.values()) == 0
    assert report.complaints == N
    assert report.commands == plan.command_count
    assert report.events > report.commands  # filings also store reporters and sequences

    # Each complaint ends the year in the state its plan says.
    states: Counter[str] = Counter()
    resolved = 0
    for tracking_id, planned in zip(report.tracking_ids, plan.complaints, strict=True):
        complaint = lapor.complaint(tracking_id)
        assert tracking_id.startswith("LAP-2022-")
        assert str(complaint.state) == planned.final_state, tracking_id
        assert complaint.last_event_at <= plan.as_of
        states[str(complaint.state)] += 1
        resolved += complaint.resolved_at is not None and complaint.resolved_at <= plan.as_of
    assert dict(states) == plan.final_states()
    assert resolved / N == EXPECTED_RESOLVED / N

    # The statistics projection, fed from the same store, says the same.
    from lapor_es.projections import core
    from lapor_es.projections.runners import LocalRunner
    from lapor_es.readmodels import stats as st
    from lapor_es.readmodels.complaints import ComplaintsModel
    from tests.support.projections import read_model_service

    engine = read_model_service(settings).engine
    model = ComplaintsModel(calendar=settings.calendar)
    core.create_all(engine, [model])
    LocalRunner(lapor.recorder, lapor.mapper, core.Projector(engine, [model])).run()
    with engine.connect() as conn:
        (row,) = st.completion(
            conn, model, st.Cohort(date(2022, 1, 1), date(2022, 12, 31), plan.as_of)
        )
    assert (row.filed, row.resolved) == (N, EXPECTED_RESOLVED)
    assert row.completion_rate == pytest.approx(0.845)


@pytest.fixture
def second_store(
    request: pytest.FixtureRequest, database_url: str, tmp_path: Path
) -> Iterator[LaporApp]:
    """Another empty store of the same kind, with another reporter pepper."""
    if database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/second.sqlite3"
    else:
        url = fresh_postgres_database(request.getfixturevalue("postgres_server"))
    other = open_app(
        Settings(database_url=url, reporter_pepper="another-pepper"), clock=lambda: NOW
    )
    yield other
    other.close()


def _histories(app: LaporApp, tracking_ids: list[str]) -> list[list[tuple[str, int, str]]]:
    """Each complaint's events as (type, version, time). Not the event hashes: each event's
    private digest is salted at random (so a published digest cannot confirm a guessed
    pseudonym), so two stores never share hashes, even for the same seed."""
    return [
        [(type(e).__name__, e.originator_version, e.at.isoformat()) for e in app.history(c.id)]
        for c in (app.complaint(t) for t in tracking_ids)
    ]


def test_same_seed_same_histories_on_fresh_stores(lapor: LaporApp, second_store: LaporApp) -> None:
    params = PlanParams(seed=5, complaints=120, days=20)
    plan, first = simulate(lapor, params)
    _, second = simulate(second_store, params)
    assert first.tracking_ids == second.tracking_ids
    first_histories = _histories(lapor, first.tracking_ids)
    second_histories = _histories(second_store, second.tracking_ids)
    differ = [
        t
        for t, a, b in zip(first.tracking_ids, first_histories, second_histories, strict=True)
        if a != b
    ]
    assert not differ, f"{len(differ)} histories differ, first {differ[:3]}"
    # One event per command, but two for a verification (Verified, Forwarded), for a
    # confirmation (ReporterReplied, Resolved) and for a merge (Merged on the duplicate,
    # DuplicateMerged on the original).
    doubles = sum(
        1
        for p in plan.complaints
        for step in p.steps
        if step.command in ("verify", "merge") or step.fields.get("kind") == "confirm"
    )
    assert sum(len(h) for h in first_histories) == first.commands + doubles
