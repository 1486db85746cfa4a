"""Issue 10, items 1-9 on the read side, on SQLite and PostgreSQL: the complaints read model
and its statistics follow the events the workflow now records."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from lapor_es.application import LaporApp
from lapor_es.commands import Outcome, parse_command
from lapor_es.config import Settings
from lapor_es.projections import core
from lapor_es.projections.runners import LocalRunner
from lapor_es.readmodels import stats as st
from lapor_es.readmodels.complaints import ComplaintsModel
from tests.support.builders import (
    DESK,
    agency_actor,
    file_cmd,
    reporter_actor,
    small_directory,
)
from tests.support.projections import read_model_service

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # Monday 09:00 WIB
END = datetime(2026, 2, 27, 0, 0, tzinfo=UTC)


class Run:
    """Commands one business hour apart, on a directory with two ministries and units."""

    def __init__(self, lapor: LaporApp) -> None:
        small_directory(lapor)
        self.lapor, self.at = lapor, START

    def __call__(self, **command: Any) -> Outcome:
        self.at += timedelta(hours=1)
        return self.lapor.handle(parse_command({**command, "at": self.at.isoformat()}))

    def file(self, **overrides: Any) -> str:
        out = self(**file_cmd(**overrides))
        assert out.tracking_id
        return out.tracking_id

    def verify(self, tid: str, to: str = "KEMENKES", **overrides: Any) -> Outcome:
        return self(
            command="verify",
            actor=DESK,
            complaint=tid,
            title=f"Laporan {tid}",
            category="Kesehatan",
            kind="complaint",
            visibility="public",
            to_agency=to,
            **overrides,
        )


@pytest.fixture
def run(lapor: LaporApp) -> Run:
    return Run(lapor)


def project(lapor: LaporApp, settings: Settings) -> tuple[Engine, ComplaintsModel]:
    engine = read_model_service(settings).engine
    model = ComplaintsModel(calendar=settings.calendar)
    core.create_all(engine, [model])
    LocalRunner(lapor.recorder, lapor.mapper, core.Projector(engine, [model])).run()
    return engine, model


def facts(engine: Engine, model: ComplaintsModel, tid: str) -> dict[str, Any]:
    with engine.connect() as conn:
        row = conn.execute(select(model.facts).where(model.facts.c.tracking_id == tid)).one()
    return dict(row._mapping)


def completion(engine: Engine, model: ComplaintsModel) -> st.CompletionRow:
    cohort = st.Cohort(date(2026, 1, 1), date(2026, 1, 31), END)
    with engine.connect() as conn:
        (row,) = st.completion(conn, model, cohort)
    return row


# ----------------------------------------------------------------- item 2
def test_unit_forward_of_work_in_hand_keeps_bucket_and_follow_up_rate(
    run: Run, lapor: LaporApp, settings: Settings
) -> None:
    tid = run.file()
    run.verify(tid)
    run(command="start", actor=agency_actor("KEMENKES"), complaint=tid)
    run(
        command="forward", actor=agency_actor("KEMENKES"), complaint=tid, to_agency="KEMENKES.ITJEN"
    )
    engine, model = project(lapor, settings)
    row = facts(engine, model, tid)
    assert (row["state"], row["bucket"]) == ("IN_PROGRESS", "Terdisposisi, Sedang Diproses")
    assert row["holder"] == "KEMENKES.ITJEN"
    assert completion(engine, model).followed_up == 1


# ----------------------------------------------------------------- item 3
def test_completion_is_reported_with_and_without_the_desks_own_closures(
    run: Run, lapor: LaporApp, settings: Settings
) -> None:
    by_admin, open_ = run.file(), run.file()
    answered = run(**file_cmd(reporter={"name": "Rudi", "phone": "081311112222"}))
    assert answered.tracking_id and answered.reporter_ref
    for tid in (by_admin, answered.tracking_id, open_):
        run.verify(tid)
    run(
        command="resolve",
        actor=DESK,
        complaint=by_admin,
        mode="by_admin",
        note="Ditutup admin: pelapor sudah dihubungi langsung oleh dinas",
    )
    run(
        command="respond",
        actor=agency_actor("KEMENKES"),
        complaint=answered.tracking_id,
        kind="final",
        text="Pipa sudah diperbaiki kemarin sore",
    )
    run(
        command="reply",
        actor=reporter_actor(answered.reporter_ref),
        complaint=answered.tracking_id,
        kind="confirm",
        text="Terima kasih",
    )
    engine, model = project(lapor, settings)
    row = completion(engine, model)
    assert (row.filed, row.resolved, row.resolved_by_admin) == (3, 2, 1)
    assert row.completion_rate == pytest.approx(2 / 3)
    assert row.completion_rate_without_admin == pytest.approx(1 / 3)
    with engine.connect() as conn:
        modes = conn.execute(
            select(model.states.c.resolution_mode).where(model.states.c.state == "RESOLVED")
        ).scalars()
        assert sorted(modes) == ["by_admin", "confirmed_by_reporter"]
