"""The SLA ladder on the running clock (warning, breach, escalations), and the due times
every clock-starting action is checked for.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest

from lapor_es.aggregates import (
    Actor,
    AlreadyRecorded,
    Complaint,
    ComplaintKind,
    EscalationLevel,
    NotAuthorized,
    ReplyKind,
    ResponseKind,
    RuleViolation,
    Visibility,
)
from lapor_es.aggregates.complaint import sla_mark
from tests.support.builders import REPORTER, filed_complaint, pending_event
from tests.unit.domain.transitions.world import (
    A_U1,
    ADMIN,
    AUTO_RESOLVE_DUE,
    FOLLOW_UP_DUE,
    NOW,
    SYSTEM,
    T0,
    VERIFICATION_DUE,
    A,
    B,
    D,
    H,
    S,
    agency,
    archived,
    do_verify,
    forwarded,
    in_progress,
    new_events,
    postponed,
    resolved,
    responded,
    sla_call,
    state_of,
    submitted,
)


# ----------------------------------------------------------------- the SLA ladder
def test_sla_warning_is_recorded_once() -> None:
    c = forwarded()
    c.warn_sla(SYSTEM, FOLLOW_UP_DUE - D, clock="follow_up", due_at=FOLLOW_UP_DUE)
    assert new_events(c, 3) == ["SlaWarned"]
    assert c.sla_marks == [sla_mark("warned", "follow_up", FOLLOW_UP_DUE)]
    assert c.state == S.FORWARDED and c.due_at == FOLLOW_UP_DUE
    with pytest.raises(AlreadyRecorded):
        c.warn_sla(SYSTEM, FOLLOW_UP_DUE - D, clock="follow_up", due_at=FOLLOW_UP_DUE)
    assert c.version == 4


def test_sla_breach_and_escalations_are_recorded_once_each() -> None:
    c = forwarded()
    with pytest.raises(RuleViolation, match="due only at"):
        c.breach_sla(SYSTEM, FOLLOW_UP_DUE - H, clock="follow_up", due_at=FOLLOW_UP_DUE)
    c.breach_sla(SYSTEM, FOLLOW_UP_DUE, clock="follow_up", due_at=FOLLOW_UP_DUE)
    with pytest.raises(AlreadyRecorded):
        c.breach_sla(SYSTEM, FOLLOW_UP_DUE + H, clock="follow_up", due_at=FOLLOW_UP_DUE)
    for level, to in [(EscalationLevel.PARENT, "LAPOR"), (EscalationLevel.NATIONAL, "LAPOR")]:
        c.escalate(
            SYSTEM,
            FOLLOW_UP_DUE + 5 * D,
            level=level,
            to_agency=to,
            clock="follow_up",
            due_at=FOLLOW_UP_DUE,
        )
        with pytest.raises(AlreadyRecorded):
            c.escalate(
                SYSTEM,
                FOLLOW_UP_DUE + 6 * D,
                level=level,
                to_agency=to,
                clock="follow_up",
                due_at=FOLLOW_UP_DUE,
            )
    assert new_events(c, 3) == ["SlaBreached", "Escalated", "Escalated"]
    assert c.sla_marks == [
        sla_mark("breached", "follow_up", FOLLOW_UP_DUE),
        sla_mark("escalated-parent", "follow_up", FOLLOW_UP_DUE),
        sla_mark("escalated-national", "follow_up", FOLLOW_UP_DUE),
    ]
    assert c.state == S.FORWARDED


def test_a_new_forwarding_gives_a_new_clock_to_warn_about() -> None:
    c = forwarded()
    c.warn_sla(SYSTEM, FOLLOW_UP_DUE - D, clock="follow_up", due_at=FOLLOW_UP_DUE)
    later = FOLLOW_UP_DUE + 5 * D
    c.forward(ADMIN, FOLLOW_UP_DUE, target=B, note="", follow_up_due_at=later)
    with pytest.raises(RuleViolation, match="not running"):
        c.warn_sla(SYSTEM, later - D, clock="follow_up", due_at=FOLLOW_UP_DUE)
    c.warn_sla(SYSTEM, later - D, clock="follow_up", due_at=later)
    assert len(c.sla_marks) == 2


@pytest.mark.parametrize(
    ("build", "clock", "due"),
    [
        (postponed, "verification", VERIFICATION_DUE),  # paused: no due time
        (archived, "verification", VERIFICATION_DUE),
        (resolved, "follow_up", FOLLOW_UP_DUE),  # stopped
        (forwarded, "verification", VERIFICATION_DUE),  # wrong clock
        (forwarded, "follow_up", FOLLOW_UP_DUE + H),  # wrong due time
    ],
)
def test_sla_marks_need_the_running_clock(
    build: Callable[[], Complaint], clock: str, due: datetime
) -> None:
    c = build()
    n = c.version
    with pytest.raises(RuleViolation, match="not running"):
        c.warn_sla(SYSTEM, due, clock=clock, due_at=due)
    assert c.version == n


@pytest.mark.parametrize("actor", [ADMIN, agency("A"), REPORTER])
def test_only_the_timer_marks_deadlines(actor: Actor) -> None:
    c = forwarded()
    with pytest.raises(NotAuthorized):
        c.warn_sla(actor, NOW, clock="follow_up", due_at=FOLLOW_UP_DUE)


@pytest.mark.parametrize("build", [responded, resolved])
@pytest.mark.parametrize("mark", ["warn", "breach", "parent", "national"])
def test_the_reporters_reply_window_is_never_an_sla_deadline(
    build: Callable[[], Complaint], mark: str
) -> None:
    # Even while the auto_resolve clock runs (RESPONDED), it ends in auto-closure, never in
    # warnings, breaches or escalations.
    c = build()
    before = copy.deepcopy(state_of(c))
    at = AUTO_RESOLVE_DUE + D
    with pytest.raises(RuleViolation, match="auto_resolve window cannot be"):
        sla_call(c, mark, at, clock="auto_resolve", due_at=AUTO_RESOLVE_DUE)
    assert state_of(c) == before


@pytest.mark.parametrize("level", list(EscalationLevel))
def test_escalation_needs_the_deadline_breached_first(level: EscalationLevel) -> None:
    c = forwarded()
    c.warn_sla(SYSTEM, FOLLOW_UP_DUE - D, clock="follow_up", due_at=FOLLOW_UP_DUE)
    before = copy.deepcopy(state_of(c))
    with pytest.raises(RuleViolation, match="is not breached"):
        sla_call(c, str(level), FOLLOW_UP_DUE + D, clock="follow_up", due_at=FOLLOW_UP_DUE)
    assert state_of(c) == before


def test_national_escalation_needs_the_parent_escalation_first() -> None:
    c = forwarded()
    c.breach_sla(SYSTEM, FOLLOW_UP_DUE, clock="follow_up", due_at=FOLLOW_UP_DUE)
    n = c.version
    with pytest.raises(RuleViolation, match="parent agency before the national desk"):
        sla_call(c, "national", FOLLOW_UP_DUE + D, clock="follow_up", due_at=FOLLOW_UP_DUE)
    assert c.version == n
    sla_call(c, "parent", FOLLOW_UP_DUE + D, clock="follow_up", due_at=FOLLOW_UP_DUE)
    sla_call(c, "national", FOLLOW_UP_DUE + 2 * D, clock="follow_up", due_at=FOLLOW_UP_DUE)
    assert new_events(c, n) == ["Escalated", "Escalated"]
    escalations = [pending_event(c, i, Complaint.Escalated) for i in (-2, -1)]
    assert [e.level for e in escalations] == ["parent", "national"]


def test_a_breach_of_an_earlier_clock_does_not_allow_escalating_the_new_one() -> None:
    c = forwarded()
    c.breach_sla(SYSTEM, FOLLOW_UP_DUE, clock="follow_up", due_at=FOLLOW_UP_DUE)
    sla_call(c, "parent", FOLLOW_UP_DUE, clock="follow_up", due_at=FOLLOW_UP_DUE)
    # The agency answers (interim): a fresh follow-up clock, with nothing breached yet.
    later = FOLLOW_UP_DUE + 5 * D
    c.respond(
        agency("A"),
        FOLLOW_UP_DUE + H,
        kind=ResponseKind.INTERIM,
        text="sedang dicek",
        follow_up_due_at=later,
        auto_resolve_due_at=AUTO_RESOLVE_DUE,
    )
    n = c.version
    with pytest.raises(RuleViolation, match="not running"):
        sla_call(c, "national", later, clock="follow_up", due_at=FOLLOW_UP_DUE)
    with pytest.raises(RuleViolation, match="is not breached"):
        sla_call(c, "parent", later, clock="follow_up", due_at=later)
    c.breach_sla(SYSTEM, later, clock="follow_up", due_at=later)
    with pytest.raises(RuleViolation, match="parent agency before"):
        sla_call(c, "national", later, clock="follow_up", due_at=later)
    sla_call(c, "parent", later, clock="follow_up", due_at=later)
    assert new_events(c, n) == ["SlaBreached", "Escalated"]


# ----------------------------------------------------------------- due times
def _unit_held() -> Complaint:
    c = forwarded()
    c.forward(agency("A"), T0 + 3 * H, target=A_U1, note="", follow_up_due_at=FOLLOW_UP_DUE)
    return c


def _respond(
    kind: ResponseKind, follow_up: bool
) -> Callable[[Complaint, datetime, datetime], None]:
    def run(c: Complaint, at: datetime, due: datetime) -> None:
        c.respond(
            agency("A"),
            at,
            kind=kind,
            text="jawaban akhir yang lengkap",
            follow_up_due_at=due if follow_up else at + 5 * D,
            auto_resolve_due_at=at + 10 * D if follow_up else due,
        )

    return run


def _reply(kind: ReplyKind, follow_up: bool) -> Callable[[Complaint, datetime, datetime], None]:
    def run(c: Complaint, at: datetime, due: datetime) -> None:
        c.reply(
            REPORTER,
            at,
            kind=kind,
            text="",
            follow_up_due_at=due if follow_up else at + 5 * D,
            auto_resolve_due_at=at + 10 * D if follow_up else due,
        )

    return run


# Each command with the due time it uses; `due` is the one under test.
DUE_CHECKED: dict[
    str, tuple[Callable[[], Complaint], Callable[[Complaint, datetime, datetime], None]]
] = {
    "verify": (
        submitted,
        lambda c, at, due: c.verify(
            ADMIN,
            at,
            title="",
            category="",
            kind=ComplaintKind.COMPLAINT,
            visibility=Visibility.PUBLIC,
            target=A,
            note="",
            follow_up_due_at=due,
        ),
    ),
    "supplement": (
        postponed,
        lambda c, at, due: c.supplement(REPORTER, at, text="", verification_due_at=due),
    ),
    "forward-desk": (
        forwarded,
        lambda c, at, due: c.forward(ADMIN, at, target=B, note="", follow_up_due_at=due),
    ),
    "forward-unit": (
        forwarded,
        lambda c, at, due: c.forward(agency("A"), at, target=A_U1, note="", follow_up_due_at=due),
    ),
    "decline-to-desk": (
        forwarded,
        lambda c, at, due: c.decline(
            agency("A"), at, reason="", suggested_agency=None, verification_due_at=due
        ),
    ),
    # The verification due time is not used when a unit declines to its parent (the event
    # records None), but it is still checked: see the report.
    "decline-to-parent": (
        _unit_held,
        lambda c, at, due: c.decline(
            agency("A.U1"), at, reason="", suggested_agency=None, verification_due_at=due
        ),
    ),
    "respond-interim": (in_progress, _respond(ResponseKind.INTERIM, follow_up=True)),
    "respond-final": (in_progress, _respond(ResponseKind.FINAL, follow_up=False)),
    "dispute": (responded, _reply(ReplyKind.DISPUTE, follow_up=True)),
    "comment-in-window": (responded, _reply(ReplyKind.COMMENT, follow_up=False)),
    "reopen": (
        resolved,
        lambda c, at, due: c.reopen(ADMIN, at, reason="", window_days=30, follow_up_due_at=due),
    ),
}


@pytest.mark.parametrize("name", list(DUE_CHECKED))
def test_a_due_time_before_the_action_is_refused(name: str) -> None:
    build, run = DUE_CHECKED[name]
    c = build()
    before = copy.deepcopy(state_of(c))
    with pytest.raises(RuleViolation, match="cannot precede the action"):
        run(c, NOW, NOW - timedelta(seconds=1))
    assert state_of(c) == before


@pytest.mark.parametrize("name", list(DUE_CHECKED))
def test_a_due_time_at_the_action_itself_is_accepted(name: str) -> None:
    build, run = DUE_CHECKED[name]
    c = build()
    n = c.version
    run(c, NOW, NOW)
    assert c.version > n
    if c.due_at is not None:
        assert c.clock_started_at is not None and c.due_at >= c.clock_started_at


def test_the_original_case_verify_with_a_follow_up_already_past() -> None:
    c = filed_complaint()
    with pytest.raises(RuleViolation):
        do_verify(c, FOLLOW_UP_DUE + D)  # follow_up_due_at=FOLLOW_UP_DUE is already past
    assert c.version == 1 and c.state == S.SUBMITTED


# A due time the command does not use is not checked (the application passes all of them).
UNUSED_DUE: dict[
    str, tuple[Callable[[], Complaint], Callable[[Complaint, datetime, datetime], None]]
] = {
    "respond-interim-auto-resolve": (in_progress, _respond(ResponseKind.INTERIM, follow_up=False)),
    "respond-final-follow-up": (in_progress, _respond(ResponseKind.FINAL, follow_up=True)),
    "dispute-auto-resolve": (responded, _reply(ReplyKind.DISPUTE, follow_up=False)),
    "comment-in-window-follow-up": (responded, _reply(ReplyKind.COMMENT, follow_up=True)),
    "comment-at-agency-follow-up": (in_progress, _reply(ReplyKind.COMMENT, follow_up=True)),
    "comment-at-agency-auto-resolve": (in_progress, _reply(ReplyKind.COMMENT, follow_up=False)),
    "confirm-follow-up": (responded, _reply(ReplyKind.CONFIRM, follow_up=True)),
    "confirm-auto-resolve": (responded, _reply(ReplyKind.CONFIRM, follow_up=False)),
}


@pytest.mark.parametrize("name", list(UNUSED_DUE))
def test_an_unused_due_time_is_not_checked(name: str) -> None:
    build, run = UNUSED_DUE[name]
    c = build()
    n = c.version
    run(c, NOW, T0 - D)
    assert c.version > n
    assert T0 - D not in {e.__dict__.get(f) for e in c.pending_events[n:] for f in DUE_FIELDS}
    if c.due_at is not None:
        assert c.clock_started_at is not None and c.due_at >= c.clock_started_at


DUE_FIELDS = ("follow_up_due_at", "auto_resolve_due_at", "verification_due_at")
