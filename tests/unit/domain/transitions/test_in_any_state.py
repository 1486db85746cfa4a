"""Rules of every state: authorization, time that never goes backwards (for every event),
and the gaps found in the aggregate.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import timedelta

import pytest

from lapor_es.aggregates import (
    Actor,
    ArchiveReason,
    Complaint,
    EscalationLevel,
    NotAuthorized,
    ResponseKind,
    Role,
    RuleViolation,
    Visibility,
)
from tests.support.builders import REPORTER, filed_complaint
from tests.unit.domain.transitions.world import (
    ACTIONS,
    ADMIN,
    B_U1,
    FOLLOW_UP_DUE,
    NOW,
    SYSTEM,
    T0,
    A,
    D,
    H,
    S,
    agency,
    forwarded,
    in_progress,
    postponed,
    resolved,
    responded,
    sla_call,
    state_of,
    submitted,
)

# ----------------------------------------------------------------- authorization
OUTSIDER = agency("B")


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.start_work(OUTSIDER, NOW),
        lambda c: c.respond(
            OUTSIDER,
            NOW,
            kind=ResponseKind.FINAL,
            text="jawaban akhir yang lengkap",
            follow_up_due_at=NOW,
            auto_resolve_due_at=NOW,
        ),
        lambda c: c.forward(OUTSIDER, NOW, target=B_U1, note="", follow_up_due_at=NOW),
        lambda c: c.decline(
            OUTSIDER, NOW, reason="", suggested_agency=None, verification_due_at=NOW
        ),
        # a unit below the holder is not on the path either
        lambda c: c.start_work(agency("A.U1"), NOW),
    ],
    ids=["start_work", "respond", "forward", "decline", "unit-below-holder"],
)
def test_an_agency_not_holding_the_complaint_is_refused(call: Callable[[Complaint], None]) -> None:
    c = forwarded()
    before = copy.deepcopy(state_of(c))
    with pytest.raises(NotAuthorized):
        call(c)
    assert state_of(c) == before


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.verify(
            agency("A"),
            NOW,
            title="",
            category="",
            kind="complaint",
            visibility="public",
            target=A,
            note="",
            follow_up_due_at=NOW,
        ),
        lambda c: c.postpone(REPORTER, NOW, reason="", remaining_days=1),
        lambda c: c.archive(agency("A"), NOW, reason=ArchiveReason.SPAM, note=""),
        lambda c: c.merge_into(REPORTER, NOW, original=filed_complaint(2)),
        lambda c: c.forward(SYSTEM, NOW, target=A, note="", follow_up_due_at=NOW),
        lambda c: c.decline(ADMIN, NOW, reason="", suggested_agency=None, verification_due_at=NOW),
        lambda c: c.start_work(Actor("x", Role.AGENCY_ADMIN, None), NOW),
    ],
    ids=["verify", "postpone", "archive", "merge", "forward", "decline", "agency-without-code"],
)
def test_roles_are_checked(call: Callable[[Complaint], None]) -> None:
    c = filed_complaint()
    with pytest.raises(NotAuthorized):
        call(c)
    assert c.version == 1


# ----------------------------------------------------------------- time
BACKWARDS: list[tuple[Callable[[], Complaint], str]] = [
    (submitted, "verify"),
    (submitted, "postpone"),
    (submitted, "archive"),
    (submitted, "merge"),
    (postponed, "supplement"),
    (forwarded, "forward_national"),
    (forwarded, "forward_unit"),
    (forwarded, "decline"),
    (forwarded, "start_work"),
    (in_progress, "respond_final"),
    (responded, "comment"),
    (responded, "confirm_reply"),
    (responded, "resolve_by_admin"),
    (resolved, "reopen"),
]


@pytest.mark.parametrize(("build", "action"), BACKWARDS, ids=lambda v: getattr(v, "__name__", v))
def test_time_never_goes_backwards(build: Callable[[], Complaint], action: str) -> None:
    c = build()
    before = copy.deepcopy(state_of(c))
    with pytest.raises(RuleViolation, match="before the complaint's last event"):
        ACTIONS[action].run(c, c.last_action_at - timedelta(seconds=1))
    assert state_of(c) == before


def test_the_same_instant_as_the_last_action_is_fine() -> None:
    c = forwarded()
    c.start_work(agency("A"), c.last_action_at)
    assert c.state == S.IN_PROGRESS


def test_visibility_change_refuses_time_going_backwards() -> None:
    c = forwarded()
    with pytest.raises(RuleViolation):
        c.change_visibility(ADMIN, T0, visibility=Visibility.CONFIDENTIAL, reason="")


# ----------------------------------------------------------------- time, for every event
@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.warn_sla(SYSTEM, T0 - D, clock="follow_up", due_at=FOLLOW_UP_DUE),
        lambda c: c.breach_sla(SYSTEM, T0 - D, clock="follow_up", due_at=FOLLOW_UP_DUE),
        lambda c: c.escalate(
            SYSTEM,
            T0 - D,
            level=EscalationLevel.PARENT,
            to_agency="LAPOR",
            clock="follow_up",
            due_at=FOLLOW_UP_DUE,
        ),
        lambda c: c.erase_reporter(ADMIN, T0 - D, reason=""),
        # just before the last action, not only before filing
        lambda c: c.warn_sla(
            SYSTEM, c.last_action_at - timedelta(seconds=1), clock="follow_up", due_at=FOLLOW_UP_DUE
        ),
        lambda c: c.erase_reporter(SYSTEM, c.last_action_at - timedelta(seconds=1), reason=""),
    ],
    ids=["warn", "breach", "escalate", "erase", "warn-just-before", "erase-just-before"],
)
def test_sla_and_privacy_events_refuse_time_going_backwards(
    call: Callable[[Complaint], None],
) -> None:
    c = forwarded()
    before = copy.deepcopy(state_of(c))
    with pytest.raises(RuleViolation, match="before the complaint's last event"):
        call(c)
    assert state_of(c) == before


def test_escalating_an_old_breach_is_refused_when_dated_before_the_last_action() -> None:
    c = forwarded()
    c.breach_sla(SYSTEM, FOLLOW_UP_DUE, clock="follow_up", due_at=FOLLOW_UP_DUE)
    c.start_work(agency("A"), FOLLOW_UP_DUE + D)
    with pytest.raises(RuleViolation, match="before the complaint's last event"):
        sla_call(c, "parent", FOLLOW_UP_DUE + H, clock="follow_up", due_at=FOLLOW_UP_DUE)
    sla_call(c, "parent", FOLLOW_UP_DUE + D, clock="follow_up", due_at=FOLLOW_UP_DUE)


# ----------------------------------------------------------------- gaps found in the aggregate
# Every event, the timer's and the desk's included, moves the complaint's clock forward.
def test_no_event_is_dated_before_an_earlier_event() -> None:
    c = forwarded()
    c.breach_sla(SYSTEM, FOLLOW_UP_DUE, clock="follow_up", due_at=FOLLOW_UP_DUE)
    with pytest.raises(RuleViolation):
        c.start_work(agency("A"), NOW)  # NOW is before the breach
