"""Issue 10 item 2: an agency passing a complaint it is already working on (IN_PROGRESS)
down to its own unit keeps it IN_PROGRESS: internal disposition is not "no follow-up".
Forwarded became class_version 2 (`work_continues`); tests/unit/service/test_workflow_rules.py
loads a v1 event."""

from __future__ import annotations

from lapor_es.aggregates import Complaint
from tests.support.builders import pending_event
from tests.unit.domain.transitions.world import (
    A_U1,
    ADMIN,
    FOLLOW_UP_DUE,
    NOW,
    B,
    S,
    agency,
    forwarded,
    in_progress,
    replay,
)


def test_passing_work_in_hand_down_to_a_unit_keeps_it_in_progress() -> None:
    c = in_progress()
    c.forward(agency("A"), NOW, target=A_U1, note="", follow_up_due_at=FOLLOW_UP_DUE)
    assert c.state == S.IN_PROGRESS and c.holder_chain == ["A", "A.U1"]
    assert pending_event(c, -1, Complaint.Forwarded).work_continues is True
    assert replay(c.collect_events()).state == S.IN_PROGRESS


def test_a_unit_forward_before_work_started_and_a_desk_forward_are_forwarded() -> None:
    c = forwarded()
    c.forward(agency("A"), NOW, target=A_U1, note="", follow_up_due_at=FOLLOW_UP_DUE)
    assert c.state == S.FORWARDED
    assert pending_event(c, -1, Complaint.Forwarded).work_continues is None
    started = in_progress()
    started.forward(ADMIN, NOW, target=B, note="", follow_up_due_at=FOLLOW_UP_DUE)
    assert started.state == S.FORWARDED  # another agency has not started
