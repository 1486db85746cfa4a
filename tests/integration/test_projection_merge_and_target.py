"""Issue 10 items 6 and 7 on the read side, on SQLite and PostgreSQL, through the in-process
projector over every read model: the desk's queue proposes the reporter's chosen agency; a
duplicate merged after forwarding leaves its agency's inbox, loses its clock and closes its
forwarding as 'merged'; the original's tracking page tells the merge; completion counts it."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import select

from lapor_es.application import LaporApp
from lapor_es.commands import Outcome
from lapor_es.config import Settings
from lapor_es.readmodels import stats as st
from lapor_es.readmodels.complaints import ComplaintsModel
from lapor_es.readmodels.deadlines import DeadlinesModel
from lapor_es.readmodels.desk import desk_queue
from lapor_es.readmodels.inbox import inbox_rows
from lapor_es.readmodels.timeline import timeline_for
from tests.integration import test_projection_workflow_rules as workflow_rules
from tests.support.builders import DESK, agency_actor
from tests.support.projections import read_model_service

pytestmark = pytest.mark.integration

START = datetime(2026, 1, 5, 2, 0, tzinfo=UTC)  # Monday 09:00 WIB
AS_OF = datetime(2026, 1, 9, 10, 0, tzinfo=UTC)  # Friday, before any follow-up is due


class Run(workflow_rules.Run):
    """The workflow-rule tests' driver, verifying without naming an agency."""

    def verify(self, tid: str, to: str | None = None, **more: Any) -> Outcome:
        assert to is None, "this driver verifies to the reporter's chosen agency"
        return self(
            command="verify",
            actor=DESK,
            complaint=tid,
            title=f"Laporan {tid}",
            category="Air Bersih",
            kind="complaint",
            visibility="public",
            **more,
        )


def test_merge_and_chosen_agency_through_every_read_model(
    lapor: LaporApp, settings: Settings
) -> None:
    run = Run(lapor)
    original = run.file(target_agency="KEMENKES")
    duplicate = run.file(target_agency="KEMENSOS")
    waiting = run.file(target_agency="PROV-JABAR")  # stays unverified: the desk's queue
    run.verify(original)  # to its chosen agency
    run.verify(duplicate)
    run(command="start", actor=agency_actor("KEMENSOS"), complaint=duplicate)
    run(command="merge", actor=DESK, complaint=duplicate, into=original)

    service = read_model_service(settings)
    service.catch_up(lapor.recorder, lapor.mapper)
    calendar, policy = settings.calendar, settings.sla_policy
    facts_model = ComplaintsModel(calendar=calendar)
    deadlines = DeadlinesModel(calendar=calendar, policy=policy).deadlines
    dup_id = str(lapor.complaint(duplicate).id)
    with service.engine.connect() as conn:
        facts = {
            r["tracking_id"]: dict(r) for r in conn.execute(select(facts_model.facts)).mappings()
        }
        forwardings = conn.execute(
            select(facts_model.forwardings.c.agency, facts_model.forwardings.c.outcome).where(
                facts_model.forwardings.c.complaint_id == dup_id
            )
        ).all()
        clocks = conn.execute(
            select(deadlines.c.complaint_id).where(deadlines.c.complaint_id == dup_id)
        ).all()
        inbox = inbox_rows(conn, "KEMENSOS", include_units=True, now=AS_OF, calendar=calendar)
        page = timeline_for(conn, original, public=True)
        queue = desk_queue(conn, now=AS_OF, calendar=calendar, policy=policy, top_level=set())
        (row,) = st.completion(
            conn, facts_model, st.Cohort(date(2026, 1, 5), date(2026, 1, 9), AS_OF)
        )

    # The duplicate left KEMENSOS: no holder, not in its inbox, no clock, forwarding 'merged'.
    assert facts[duplicate]["state"] == "ARCHIVED" and facts[duplicate]["holder"] is None
    assert facts[duplicate]["merged_into"] == original
    assert [r.tracking_id for r in inbox] == []
    assert clocks == []
    assert [tuple(f) for f in forwardings] == [("KEMENSOS", "merged")]
    # The original's tracking page tells the merge; the original carries on at KEMENKES.
    assert f"Laporan duplikat {duplicate} digabungkan ke laporan ini" in [
        e.summary for e in page.entries
    ]
    assert facts[original]["holder"] == "KEMENKES" and facts[original]["state"] == "FORWARDED"
    # The desk's queue proposes the reporter's chosen agency.
    assert [(i.tracking_id, i.proposed_agency) for i in queue] == [(waiting, "PROV-JABAR")]
    # Completion: the merged duplicate is archived, and counted apart.
    assert (row.filed, row.archived, row.merged) == (3, 1, 1)
    assert row.completion_rate_without_duplicates == 0.0
