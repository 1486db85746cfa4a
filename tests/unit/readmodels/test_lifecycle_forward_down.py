"""Issue 10 item 2 on the read side: `lifecycle.state_after` follows the event, so a
complaint passed down to a unit while IN_PROGRESS stays IN_PROGRESS in every read model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lapor_es.aggregates.values import ComplaintState as S
from lapor_es.contract.payloads import AnyPayload
from lapor_es.readmodels.lifecycle import state_after
from tests.support.builders import payload

T0 = datetime(2025, 11, 3, 2, tzinfo=UTC)


def unit_forward(**fields: object) -> AnyPayload:
    return payload(
        "Forwarded",
        version=4,
        at=T0,
        role="agency_admin",
        from_agency="KEMENKES",
        to_agency="KEMENKES.ITJEN",
        level="unit",
        note="",
        follow_up_due_at=T0 + timedelta(days=7),
        **fields,
    )


def test_passing_work_in_hand_down_keeps_in_progress() -> None:
    assert state_after(S.IN_PROGRESS, unit_forward(work_continues=True)) == S.IN_PROGRESS


def test_other_forwardings_and_v1_records_are_forwarded() -> None:
    assert state_after(S.FORWARDED, unit_forward()) == S.FORWARDED
    # A record published before v2 has no work_continues: it stays what v1 decided.
    assert state_after(S.IN_PROGRESS, unit_forward()) == S.FORWARDED
