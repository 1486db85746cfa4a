"""From FORWARDED and IN_PROGRESS: the desk re-disposing, the agencies forwarding down,
declining, starting work and responding, and forwarding to an agency already holding it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

import pytest

from lapor_es.aggregates import (
    AgencyRef,
    Complaint,
    NotAuthorized,
    ResponseKind,
    RuleViolation,
)
from tests.support.builders import pending_event
from tests.unit.domain.transitions.world import (
    A_U1,
    A_U1_X,
    A_U2,
    ADMIN,
    AUTO_RESOLVE_DUE,
    B_U1,
    DESK,
    FOLLOW_UP_DUE,
    NOW,
    SYSTEM,
    T0,
    A,
    B,
    D,
    H,
    S,
    agency,
    forwarded,
    in_progress,
    names,
    new_events,
    state_now,
    state_of,
)


@pytest.mark.parametrize("build", [forwarded, in_progress])
def test_the_desk_redisposes_an_open_complaint(build: Callable[[], Complaint]) -> None:
    c = build()
    n = len(c.pending_events)
    c.forward(ADMIN, NOW, target=B, note="salah alamat", follow_up_due_at=NOW + 5 * D)
    assert new_events(c, n) == ["Forwarded"]
    assert c.state == S.FORWARDED
    assert c.holder_chain == ["B"]
    assert c.forwarding_path == ["A", "B"]
    assert (c.clock, c.clock_started_at, c.due_at) == ("follow_up", NOW, NOW + 5 * D)


def test_the_desk_redisposing_replaces_the_whole_chain() -> None:
    c = forwarded()
    c.forward(agency("A"), T0 + 3 * H, target=A_U1, note="", follow_up_due_at=FOLLOW_UP_DUE)
    c.forward(ADMIN, NOW, target=B, note="", follow_up_due_at=NOW + 5 * D)
    assert c.holder_chain == ["B"]
    assert c.forwarding_path == ["A", "A.U1", "B"]


def test_the_desk_cannot_forward_to_the_current_holder() -> None:
    c = forwarded()
    with pytest.raises(RuleViolation, match="already held by A"):
        c.forward(ADMIN, NOW, target=A, note="", follow_up_due_at=NOW + 5 * D)
    assert c.version == 3


@pytest.mark.parametrize("target", [A_U1, B_U1, DESK], ids=["own-unit", "other-unit", "desk"])
def test_the_desk_cannot_forward_to_a_unit(target: AgencyRef) -> None:
    c = forwarded()
    with pytest.raises(RuleViolation, match="forwards to agencies"):
        c.forward(ADMIN, NOW, target=target, note="", follow_up_due_at=NOW + 5 * D)
    assert c.version == 3 and c.holder_chain == ["A"]


# ----------------------------------------------------------------- the agencies
@pytest.mark.parametrize("build", [forwarded, in_progress])
def test_an_agency_forwards_down_to_its_unit(build: Callable[[], Complaint]) -> None:
    c = build()
    n = len(c.pending_events)
    c.forward(agency("A"), NOW, target=A_U1, note="ke unit", follow_up_due_at=NOW + 5 * D)
    assert new_events(c, n) == ["Forwarded"]
    fwd = pending_event(c, -1, Complaint.Forwarded)
    assert (fwd.from_agency, fwd.to_agency, fwd.level) == ("A", "A.U1", "unit")
    # Work already started stays started (issue 10 item 2).
    assert c.state == (S.IN_PROGRESS if build is in_progress else S.FORWARDED)
    assert c.holder_chain == ["A", "A.U1"] and c.holder == "A.U1"
    assert c.forwarding_path == ["A", "A.U1"]
    assert (c.clock, c.clock_started_at, c.due_at) == ("follow_up", NOW, NOW + 5 * D)


def test_forwarding_down_nests_and_a_parent_may_redirect_to_a_sibling() -> None:
    c = forwarded()
    c.forward(agency("A"), T0 + 3 * H, target=A_U1, note="", follow_up_due_at=FOLLOW_UP_DUE)
    c.forward(agency("A.U1"), T0 + 4 * H, target=A_U1_X, note="", follow_up_due_at=FOLLOW_UP_DUE)
    assert c.holder_chain == ["A", "A.U1", "A.U1.X"]
    # A, above the holder on the path, takes it back to another of its own units.
    c.forward(agency("A"), NOW, target=A_U2, note="", follow_up_due_at=FOLLOW_UP_DUE)
    assert c.holder_chain == ["A", "A.U2"]
    assert c.forwarding_path == ["A", "A.U1", "A.U1.X", "A.U2"]


@pytest.mark.parametrize(
    ("actor", "target"),
    [("A", B_U1), ("A", B), ("A.U1", A_U2)],
    ids=["other-agencys-unit", "other-agency", "sibling-unit"],
)
def test_an_agency_forwards_only_to_its_own_units(actor: str, target: AgencyRef) -> None:
    c = forwarded()
    c.forward(agency("A"), T0 + 3 * H, target=A_U1, note="", follow_up_due_at=FOLLOW_UP_DUE)
    n = c.version
    with pytest.raises(NotAuthorized, match="only to its own units"):
        c.forward(agency(actor), NOW, target=target, note="", follow_up_due_at=FOLLOW_UP_DUE)
    assert c.version == n and c.holder_chain == ["A", "A.U1"]


def test_a_unit_declining_returns_the_complaint_to_its_parent() -> None:
    c = forwarded()
    c.forward(agency("A"), T0 + 3 * H, target=A_U1, note="", follow_up_due_at=T0 + 6 * D)
    n = c.version
    c.decline(
        agency("A.U1"),
        NOW,
        reason="bukan wewenang",
        suggested_agency="A.U2",
        verification_due_at=NOW + 3 * D,
    )
    assert new_events(c, n) == ["ForwardingDeclined"]
    ev = pending_event(c, -1, Complaint.ForwardingDeclined)
    assert (ev.agency, ev.returned_to, ev.verification_due_at) == ("A.U1", "A", None)
    assert ev.suggested_agency == "A.U2"
    assert c.state == S.FORWARDED
    assert c.holder_chain == ["A"] and c.holder == "A"
    # The parent's follow-up clock keeps running (not a fresh verification clock).
    assert (c.clock, c.clock_started_at, c.due_at) == ("follow_up", T0 + 3 * H, T0 + 6 * D)


def test_a_top_agency_declining_returns_the_complaint_to_the_desk() -> None:
    c = forwarded()
    c.decline(
        agency("A"),
        NOW,
        reason="bukan wewenang",
        suggested_agency="B",
        verification_due_at=NOW + 3 * D,
    )
    assert new_events(c, 3) == ["ForwardingDeclined"]
    ev = pending_event(c, -1, Complaint.ForwardingDeclined)
    assert (ev.returned_to, ev.verification_due_at) == (None, NOW + 3 * D)
    assert c.state == S.SUBMITTED
    assert c.holder_chain == [] and c.holder is None
    assert (c.clock, c.clock_started_at, c.due_at) == ("verification", NOW, NOW + 3 * D)
    assert c.verified is True
    # ... and the desk may re-dispose it without verifying again.
    c.forward(ADMIN, NOW + H, target=B, note="", follow_up_due_at=NOW + 5 * D)
    assert state_now(c) == S.FORWARDED and c.holder_chain == ["B"]
    assert c.forwarding_path == ["A", "B"]


def test_only_the_holder_declines() -> None:
    c = forwarded()
    c.forward(agency("A"), T0 + 3 * H, target=A_U1, note="", follow_up_due_at=FOLLOW_UP_DUE)
    n = c.version
    with pytest.raises(NotAuthorized, match=r"only the holder A\.U1"):
        c.decline(agency("A"), NOW, reason="", suggested_agency=None, verification_due_at=NOW)
    assert c.version == n


def test_start_work() -> None:
    c = forwarded()
    c.start_work(agency("A"), NOW)
    assert new_events(c, 3) == ["WorkStarted"]
    assert pending_event(c, -1, Complaint.WorkStarted).agency == "A"
    assert c.state == S.IN_PROGRESS
    assert c.holder_chain == ["A"]
    assert c.due_at == FOLLOW_UP_DUE  # starting work is not yet the follow-up the SLA asks for


def test_a_parent_may_act_on_its_units_complaint() -> None:
    c = forwarded()
    c.forward(agency("A"), T0 + 3 * H, target=A_U1, note="", follow_up_due_at=FOLLOW_UP_DUE)
    c.start_work(agency("A"), NOW)
    assert c.state == S.IN_PROGRESS
    assert pending_event(c, -1, Complaint.WorkStarted).agency == "A"
    assert c.holder_chain == ["A", "A.U1"]


def test_an_interim_response_restarts_the_follow_up_clock() -> None:
    c = forwarded()
    c.respond(
        agency("A"),
        NOW,
        kind=ResponseKind.INTERIM,
        text="sedang dicek",
        follow_up_due_at=NOW + 5 * D,
        auto_resolve_due_at=AUTO_RESOLVE_DUE,
    )
    assert new_events(c, 3) == ["Responded"]
    ev = pending_event(c, -1, Complaint.Responded)
    assert (ev.kind, ev.follow_up_due_at, ev.auto_resolve_due_at) == ("interim", NOW + 5 * D, None)
    assert c.state == S.IN_PROGRESS
    assert c.first_response_at == NOW
    assert c.final_response_at is None
    # The interim answer is the follow-up the clock asked for; the next one is due anew.
    assert (c.clock, c.clock_started_at, c.due_at) == ("follow_up", NOW, NOW + 5 * D)
    assert c.clock_paused_at is None


def test_interim_responses_cannot_hold_a_complaint_without_a_deadline() -> None:
    c = in_progress()
    for i in range(1, 4):
        at = T0 + i * D
        c.respond(
            agency("A"),
            at,
            kind=ResponseKind.INTERIM,
            text=f"update {i}",
            follow_up_due_at=at + 5 * D,
            auto_resolve_due_at=AUTO_RESOLVE_DUE,
        )
        assert (c.state, c.clock, c.clock_started_at, c.due_at) == (
            S.IN_PROGRESS,
            "follow_up",
            at,
            at + 5 * D,
        )
    assert c.first_response_at == T0 + D
    # ... and the restarted clock is the one the SLA timer watches.
    c.warn_sla(SYSTEM, T0 + 7 * D, clock="follow_up", due_at=T0 + 8 * D)
    with pytest.raises(RuleViolation, match="not running"):
        c.warn_sla(SYSTEM, T0 + 7 * D, clock="follow_up", due_at=FOLLOW_UP_DUE)


def test_a_final_response_starts_the_reporters_window() -> None:
    c = in_progress()
    c.respond(
        agency("A"),
        T0 + 4 * H,
        kind=ResponseKind.INTERIM,
        text="x",
        follow_up_due_at=T0 + 4 * H + 5 * D,
        auto_resolve_due_at=NOW,
    )
    c.respond(
        agency("A"),
        NOW,
        kind=ResponseKind.FINAL,
        text="jawaban akhir yang lengkap",
        follow_up_due_at=NOW + 5 * D,
        auto_resolve_due_at=AUTO_RESOLVE_DUE,
    )
    assert names(c.pending_events[-2:]) == ["Responded", "Responded"]
    ev = pending_event(c, -1, Complaint.Responded)
    assert (ev.kind, ev.follow_up_due_at, ev.auto_resolve_due_at) == (
        "final",
        None,
        AUTO_RESOLVE_DUE,
    )
    assert c.state == S.RESPONDED
    assert c.first_response_at == T0 + 4 * H  # the first response is remembered
    assert c.final_response_at == NOW
    assert (c.clock, c.clock_started_at, c.due_at) == ("auto_resolve", NOW, AUTO_RESOLVE_DUE)


def test_an_agency_may_give_a_final_response_straight_from_forwarded() -> None:
    c = forwarded()
    c.respond(
        agency("A"),
        NOW,
        kind=ResponseKind.FINAL,
        text="jawaban akhir yang lengkap",
        follow_up_due_at=NOW + 5 * D,
        auto_resolve_due_at=NOW + D,
    )
    assert c.state == S.RESPONDED
    assert c.first_response_at == c.final_response_at == NOW


# ----------------------------------------------------------------- forwarding to a holder
def test_an_agency_cannot_reforward_to_the_current_holder() -> None:
    c = forwarded()
    c.forward(agency("A"), T0 + 3 * H, target=A_U1, note="", follow_up_due_at=FOLLOW_UP_DUE)
    before = copy.deepcopy(state_of(c))
    with pytest.raises(RuleViolation, match=r"already held by A\.U1") as info:
        c.forward(agency("A"), NOW, target=A_U1, note="", follow_up_due_at=NOW + 30 * D)
    assert info.value.details == {"target": "A.U1"}
    assert state_of(c) == before  # in particular, the follow-up clock did not restart


def test_no_one_can_forward_to_an_agency_already_on_the_holder_chain() -> None:
    c = forwarded()
    c.forward(agency("A"), T0 + 3 * H, target=A_U1, note="", follow_up_due_at=FOLLOW_UP_DUE)
    c.forward(agency("A.U1"), T0 + 4 * H, target=A_U1_X, note="", follow_up_due_at=FOLLOW_UP_DUE)
    before = copy.deepcopy(state_of(c))
    # A, above the holder, cannot hand it "back" to A.U1, which already holds it ...
    with pytest.raises(RuleViolation, match=r"already held by A\.U1"):
        c.forward(agency("A"), NOW, target=A_U1, note="", follow_up_due_at=NOW + 5 * D)
    # ... nor can the desk re-dispose it to A, at the top of the chain.
    with pytest.raises(RuleViolation, match="already held by A"):
        c.forward(ADMIN, NOW, target=A, note="", follow_up_due_at=NOW + 5 * D)
    assert state_of(c) == before
    # A different unit or agency is still fine.
    c.forward(agency("A"), NOW, target=A_U2, note="", follow_up_due_at=NOW + 5 * D)
    assert c.holder_chain == ["A", "A.U2"]


def test_an_agency_that_declined_may_be_sent_the_complaint_again() -> None:
    # The rule is about the current holder chain, not the forwarding history.
    c = forwarded()
    c.decline(agency("A"), NOW, reason="", suggested_agency=None, verification_due_at=NOW + D)
    c.forward(ADMIN, NOW + H, target=A, note="tetap wewenang A", follow_up_due_at=NOW + 5 * D)
    assert c.holder_chain == ["A"]
    assert c.forwarding_path == ["A", "A"]
