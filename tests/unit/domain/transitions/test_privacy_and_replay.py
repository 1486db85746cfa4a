"""Visibility changes and reporter erasure in any state; replaying the events rebuilds the
same state without re-running the rules.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lapor_es.aggregates import (
    Actor,
    AlreadyRecorded,
    Complaint,
    ComplaintState,
    NotAuthorized,
    ReplyKind,
    ResolutionMode,
    ResponseKind,
    Visibility,
)
from tests.support.builders import REPORTER, filed_complaint, pending_event
from tests.unit.domain.transitions.world import (
    A_U1,
    ADMIN,
    B_U1,
    BUILDERS,
    NOW,
    SYSTEM,
    T0,
    B,
    D,
    H,
    S,
    agency,
    do_verify,
    forwarded,
    new_events,
    postponed,
    replay,
    resolved,
    state_of,
)


# ----------------------------------------------------------------- privacy
def test_change_visibility() -> None:
    c = forwarded()
    c.change_visibility(ADMIN, NOW, visibility=Visibility.ANONYMOUS, reason="ancaman")
    assert new_events(c, 3) == ["VisibilityChanged"]
    ev = pending_event(c, -1, Complaint.VisibilityChanged)
    assert (ev.old, ev.new) == ("public", "anonymous")
    assert c.visibility == "anonymous" and c.state == S.FORWARDED
    with pytest.raises(AlreadyRecorded):
        c.change_visibility(ADMIN, NOW, visibility=Visibility.ANONYMOUS, reason="lagi")
    with pytest.raises(NotAuthorized):
        c.change_visibility(agency("A"), NOW, visibility=Visibility.PUBLIC, reason="")
    assert c.version == 4


@pytest.mark.parametrize("state", list(S))
def test_erase_reporter_in_any_state_and_only_once(state: ComplaintState) -> None:
    c = BUILDERS[state]()
    n = c.version
    c.erase_reporter(ADMIN, NOW, reason="permintaan pelapor")
    assert new_events(c, n) == ["ReporterErased"]
    assert c.identity_erased is True and c.state == state
    with pytest.raises(AlreadyRecorded):
        c.erase_reporter(SYSTEM, NOW, reason="lagi")
    assert c.version == n + 1


@pytest.mark.parametrize("actor", [REPORTER, agency("A")])
def test_only_the_desk_or_system_erases(actor: Actor) -> None:
    c = filed_complaint()
    with pytest.raises(NotAuthorized):
        c.erase_reporter(actor, NOW, reason="")
    assert c.identity_erased is False


# ----------------------------------------------------------------- replay
def long_story() -> Complaint:
    c = postponed()
    t = T0 + 2 * H
    c.supplement(REPORTER, t, text="RT 05", verification_due_at=t + 3 * D)
    do_verify(c, t + H)
    c.forward(agency("A"), t + 2 * H, target=A_U1, note="", follow_up_due_at=t + 6 * D)
    c.decline(
        agency("A.U1"), t + 3 * H, reason="", suggested_agency=None, verification_due_at=t + 3 * D
    )
    c.decline(agency("A"), t + 4 * H, reason="", suggested_agency="B", verification_due_at=t + D)
    c.forward(ADMIN, t + 5 * H, target=B, note="", follow_up_due_at=t + 7 * D)
    c.warn_sla(SYSTEM, t + 6 * D, clock="follow_up", due_at=t + 7 * D)
    c.forward(agency("B"), t + 6 * D, target=B_U1, note="", follow_up_due_at=t + 11 * D)
    c.start_work(agency("B.U1"), t + 7 * D)
    c.respond(
        agency("B.U1"),
        t + 8 * D,
        kind=ResponseKind.INTERIM,
        text="",
        follow_up_due_at=t + 13 * D,
        auto_resolve_due_at=t,  # unused by an interim response, so not checked
    )
    c.reply(
        REPORTER,
        t + 9 * D,
        kind=ReplyKind.COMMENT,
        text="?",
        follow_up_due_at=t,  # unused by a comment, so not checked
        auto_resolve_due_at=t,  # not in the reply window yet, so unused
    )
    c.respond(
        agency("B"),
        t + 10 * D,
        kind=ResponseKind.FINAL,
        text="jawaban akhir yang lengkap",
        follow_up_due_at=t,  # unused by a final response
        auto_resolve_due_at=t + 24 * D,
    )
    c.reply(
        REPORTER,
        t + 11 * D,
        kind=ReplyKind.DISPUTE,
        text="",
        follow_up_due_at=t + 16 * D,
        auto_resolve_due_at=t,
    )
    c.respond(
        agency("B.U1"),
        t + 12 * D,
        kind=ResponseKind.FINAL,
        text="jawaban akhir yang lengkap",
        follow_up_due_at=t + 17 * D,
        auto_resolve_due_at=t + 26 * D,
    )
    c.resolve(SYSTEM, t + 26 * D, mode=ResolutionMode.AUTO_CLOSED, note="")
    c.change_visibility(ADMIN, t + 27 * D, visibility=Visibility.CONFIDENTIAL, reason="")
    c.reopen(ADMIN, t + 28 * D, reason="", window_days=30, follow_up_due_at=t + 33 * D)
    c.erase_reporter(ADMIN, t + 29 * D, reason="")
    return c


def test_the_long_story_ends_where_expected() -> None:
    c = long_story()
    assert c.state == S.IN_PROGRESS
    assert c.holder_chain == ["B", "B.U1"]
    assert c.forwarding_path == ["A", "A.U1", "B", "B.U1"]
    assert c.reopen_count == 1
    assert c.visibility == "confidential" and c.identity_erased
    assert c.version == len(c.pending_events) == 21


@pytest.mark.parametrize("build", [*BUILDERS.values(), long_story], ids=lambda f: f.__name__)
def test_replaying_the_events_rebuilds_the_same_state(build: Callable[[], Complaint]) -> None:
    c = build()
    events = c.collect_events()
    assert [e.originator_version for e in events] == list(range(1, len(events) + 1))
    assert {e.originator_id for e in events} == {c.id}
    again = replay(events)
    assert state_of(again) == state_of(c)
    assert again.pending_events == []


def test_replay_does_not_rerun_rules() -> None:
    # A replayed complaint reaches a state the rules would refuse *now* (an expired window).
    c = resolved()
    c.reopen(ADMIN, NOW, reason="", window_days=30, follow_up_due_at=NOW + 5 * D)
    again = replay(c.collect_events())
    assert again.state == S.IN_PROGRESS and again.reopen_count == 1
