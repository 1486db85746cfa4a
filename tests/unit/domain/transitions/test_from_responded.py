"""From RESPONDED (and the reporter's actions while an agency holds it): comments, the reply
window, disputes, confirmation, auto-close and the desk's resolution.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest

from lapor_es.aggregates import (
    Actor,
    Complaint,
    NotAuthorized,
    ReplyKind,
    ResolutionMode,
    RuleViolation,
)
from tests.support.builders import REPORTER, pending_event
from tests.unit.domain.transitions.world import (
    ADMIN,
    AUTO_RESOLVE_DUE,
    NOW,
    OTHER_REPORTER,
    SYSTEM,
    T0,
    D,
    H,
    S,
    agency,
    forwarded,
    in_progress,
    new_events,
    postponed,
    replay,
    responded,
    state_now,
    state_of,
)


# ----------------------------------------------------------------- the reporter
@pytest.mark.parametrize("build", [forwarded, in_progress])
def test_a_comment_while_the_agency_has_it_changes_nothing(build: Callable[[], Complaint]) -> None:
    c = build()
    n = len(c.pending_events)
    clock = (c.state, c.clock, c.clock_started_at, c.due_at)
    c.reply(
        REPORTER,
        NOW,
        kind=ReplyKind.COMMENT,
        text="?",
        follow_up_due_at=NOW + 9 * D,
        auto_resolve_due_at=NOW + 10 * D,
    )
    assert new_events(c, n) == ["ReporterReplied"]
    ev = pending_event(c, -1, Complaint.ReporterReplied)
    assert (ev.follow_up_due_at, ev.auto_resolve_due_at) == (None, None)
    assert (c.state, c.clock, c.clock_started_at, c.due_at) == clock
    assert c.last_action_at == NOW


def test_a_comment_in_the_reply_window_restarts_the_window() -> None:
    c = responded()
    assert (c.clock, c.clock_started_at, c.due_at) == ("auto_resolve", T0 + 4 * H, AUTO_RESOLVE_DUE)
    later = AUTO_RESOLVE_DUE + 3 * D
    c.reply(
        REPORTER,
        NOW,
        kind=ReplyKind.COMMENT,
        text="masih ada lubang kecil",
        follow_up_due_at=NOW + 5 * D,
        auto_resolve_due_at=later,
    )
    assert new_events(c, 5) == ["ReporterReplied"]
    ev = pending_event(c, -1, Complaint.ReporterReplied)
    assert (ev.kind, ev.follow_up_due_at, ev.auto_resolve_due_at) == ("comment", None, later)
    assert c.state == S.RESPONDED
    assert (c.clock, c.clock_started_at, c.due_at) == ("auto_resolve", NOW, later)
    assert c.final_response_at == T0 + 4 * H  # the response itself is unchanged
    # The old end of the window no longer closes it; the new one does.
    with pytest.raises(RuleViolation, match="reply window"):
        c.resolve(SYSTEM, AUTO_RESOLVE_DUE, mode=ResolutionMode.AUTO_CLOSED, note="")
    c.resolve(SYSTEM, later, mode=ResolutionMode.AUTO_CLOSED, note="")
    assert state_now(c) == S.RESOLVED
    assert state_of(replay(c.pending_events)) == state_of(c)


def test_a_dispute_sends_it_back_to_the_agency_with_a_fresh_clock() -> None:
    c = responded()
    c.reply(
        REPORTER,
        NOW,
        kind=ReplyKind.DISPUTE,
        text="belum",
        follow_up_due_at=NOW + 5 * D,
        auto_resolve_due_at=NOW + 10 * D,
    )
    assert new_events(c, 5) == ["ReporterReplied"]
    ev = pending_event(c, -1, Complaint.ReporterReplied)
    assert (ev.kind, ev.follow_up_due_at, ev.auto_resolve_due_at) == ("dispute", NOW + 5 * D, None)
    assert c.state == S.IN_PROGRESS
    assert (c.clock, c.clock_started_at, c.due_at) == ("follow_up", NOW, NOW + 5 * D)
    assert c.holder_chain == ["A"]


def test_confirming_the_response_resolves_it() -> None:
    c = responded()
    c.reply(
        REPORTER,
        NOW,
        kind=ReplyKind.CONFIRM,
        text="terima kasih",
        follow_up_due_at=NOW,
        auto_resolve_due_at=NOW,
    )
    assert new_events(c, 5) == ["ReporterReplied", "Resolved"]
    ev = pending_event(c, -2, Complaint.ReporterReplied)
    assert (ev.kind, ev.follow_up_due_at, ev.auto_resolve_due_at) == ("confirm", None, None)
    assert c.version == 7
    assert c.state == S.RESOLVED
    assert (c.resolved_at, c.resolution_mode) == (NOW, "confirmed_by_reporter")
    assert (c.clock, c.due_at) == (None, None)
    assert c.holder_chain == ["A"]


def test_the_resolve_command_in_confirm_mode() -> None:
    c = responded()
    c.resolve(REPORTER, NOW, mode=ResolutionMode.CONFIRMED_BY_REPORTER, note="ok")
    assert new_events(c, 5) == ["Resolved"]
    assert c.resolution_mode == "confirmed_by_reporter"


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.reply(
            OTHER_REPORTER,
            NOW,
            kind=ReplyKind.CONFIRM,
            text="",
            follow_up_due_at=NOW,
            auto_resolve_due_at=NOW,
        ),
        lambda c: c.reply(
            OTHER_REPORTER,
            NOW,
            kind=ReplyKind.COMMENT,
            text="",
            follow_up_due_at=NOW,
            auto_resolve_due_at=NOW,
        ),
        lambda c: c.reply(
            ADMIN,
            NOW,
            kind=ReplyKind.DISPUTE,
            text="",
            follow_up_due_at=NOW,
            auto_resolve_due_at=NOW,
        ),
        lambda c: c.resolve(
            OTHER_REPORTER, NOW, mode=ResolutionMode.CONFIRMED_BY_REPORTER, note=""
        ),
        lambda c: c.resolve(agency("A"), NOW, mode=ResolutionMode.CONFIRMED_BY_REPORTER, note=""),
    ],
    ids=["confirm", "comment", "admin-dispute", "resolve-confirm", "agency-confirm"],
)
def test_only_the_complaints_reporter_replies(call: Callable[[Complaint], None]) -> None:
    c = responded()
    with pytest.raises(NotAuthorized, match="reporter"):
        call(c)
    assert c.version == 5 and c.state == S.RESPONDED


def test_only_the_complaints_reporter_supplements() -> None:
    c = postponed()
    with pytest.raises(NotAuthorized):
        c.supplement(OTHER_REPORTER, NOW, text="", verification_due_at=NOW + D)
    assert c.version == 2 and c.state == S.POSTPONED


# ----------------------------------------------------------------- closing and reopening
def test_auto_close_at_the_end_of_the_window() -> None:
    c = responded()
    c.resolve(SYSTEM, AUTO_RESOLVE_DUE, mode=ResolutionMode.AUTO_CLOSED, note="no reply")
    assert new_events(c, 5) == ["Resolved"]
    assert (c.state, c.resolution_mode) == (S.RESOLVED, "auto_closed")
    assert c.resolved_at == AUTO_RESOLVE_DUE


def test_auto_close_before_the_window_ends_is_refused() -> None:
    c = responded()
    with pytest.raises(RuleViolation, match="reply window"):
        c.resolve(
            SYSTEM,
            AUTO_RESOLVE_DUE - timedelta(seconds=1),
            mode=ResolutionMode.AUTO_CLOSED,
            note="",
        )
    assert c.version == 5 and c.state == S.RESPONDED


@pytest.mark.parametrize("actor", [REPORTER, agency("A")])
def test_only_the_timer_or_the_desk_auto_closes(actor: Actor) -> None:
    c = responded()
    with pytest.raises(NotAuthorized):
        c.resolve(actor, AUTO_RESOLVE_DUE, mode=ResolutionMode.AUTO_CLOSED, note="")
    assert c.version == 5


@pytest.mark.parametrize("build", [forwarded, in_progress, responded])
def test_the_desk_resolves_by_admin(build: Callable[[], Complaint]) -> None:
    c = build()
    n = len(c.pending_events)
    c.resolve(ADMIN, NOW, mode=ResolutionMode.BY_ADMIN, note="ditutup admin dengan alasan jelas")
    assert new_events(c, n) == ["Resolved"]
    assert (c.state, c.resolution_mode, c.resolved_at) == (S.RESOLVED, "by_admin", NOW)
    assert (c.clock, c.due_at) == (None, None)


@pytest.mark.parametrize("actor", [REPORTER, agency("A"), SYSTEM])
def test_only_the_desk_resolves_by_admin(actor: Actor) -> None:
    c = in_progress()
    with pytest.raises(NotAuthorized):
        c.resolve(
            actor, NOW, mode=ResolutionMode.BY_ADMIN, note="ditutup admin dengan alasan jelas"
        )
