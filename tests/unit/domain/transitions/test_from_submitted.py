"""From SUBMITTED and POSTPONED: filing, and the national desk's verification,
postponement, supplement, archive and merge.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from lapor_es.aggregates import (
    Actor,
    AgencyRef,
    ArchiveReason,
    Complaint,
    InvalidTransition,
    NotAuthorized,
    RuleViolation,
    complaint_id_for,
)
from tests.support.builders import NAMESPACE, REPORTER, filed_complaint, pending_event
from tests.unit.domain.transitions.world import (
    A_U1,
    ADMIN,
    DESK,
    FOLLOW_UP_DUE,
    NOW,
    SYSTEM,
    T0,
    VERIFICATION_DUE,
    A,
    D,
    H,
    S,
    agency,
    do_verify,
    names,
    new_events,
    postponed,
    submitted,
)


# ----------------------------------------------------------------- filing
def test_file_starts_the_verification_clock() -> None:
    c = filed_complaint()
    assert names(c.pending_events) == ["Filed"]
    assert c.id == complaint_id_for("LAP-2026-0000001", NAMESPACE)
    assert c.version == 1
    assert c.state == S.SUBMITTED
    assert c.verified is False
    assert c.holder_chain == [] and c.holder is None
    assert c.forwarding_path == []
    assert (c.clock, c.clock_started_at, c.due_at) == ("verification", T0, VERIFICATION_DUE)
    assert c.filed_at == c.last_action_at == T0
    assert (c.reopen_count, c.first_response_at, c.final_response_at) == (0, None, None)
    assert not c.is_terminal


def test_the_desk_may_file_on_a_citizens_behalf() -> None:
    assert filed_complaint(actor=ADMIN).state == S.SUBMITTED


@pytest.mark.parametrize("actor", [agency("A"), SYSTEM])
def test_only_reporters_and_the_desk_file(actor: Actor) -> None:
    with pytest.raises(NotAuthorized):
        filed_complaint(actor=actor)


# ----------------------------------------------------------------- the desk
def test_verify_classifies_and_forwards_in_one_step() -> None:
    c = filed_complaint()
    do_verify(c, T0 + H)
    assert new_events(c, 1) == ["Verified", "Forwarded"]
    assert c.version == 3
    assert c.state == S.FORWARDED
    assert c.verified is True
    assert (c.title, c.category) == ("Jalan rusak di Bandung", "infrastruktur")
    assert c.holder_chain == ["A"] and c.holder == "A"
    assert c.forwarding_path == ["A"]
    assert (c.clock, c.clock_started_at, c.due_at) == ("follow_up", T0 + H, FOLLOW_UP_DUE)
    fwd = pending_event(c, -1, Complaint.Forwarded)
    assert (fwd.from_agency, fwd.to_agency, fwd.level) == (None, "A", "agency")


@pytest.mark.parametrize("target", [A_U1, DESK], ids=["unit", "desk"])
def test_verify_forwards_only_to_a_top_level_agency(target: AgencyRef) -> None:
    c = filed_complaint()
    with pytest.raises(RuleViolation, match="forwards to agencies"):
        do_verify(c, NOW, target=target)
    assert c.version == 1 and c.state == S.SUBMITTED


def test_postpone_pauses_the_verification_clock() -> None:
    c = filed_complaint()
    c.postpone(ADMIN, T0 + H, reason="lokasi?", remaining_days=2)
    assert new_events(c, 1) == ["Postponed"]
    assert c.state == S.POSTPONED
    assert c.due_at is None
    assert c.clock_paused_at == T0 + H
    assert c.paused_remaining_days == 2


def test_postpone_never_records_negative_remaining_days() -> None:
    c = filed_complaint()
    c.postpone(ADMIN, T0 + H, reason="lokasi?", remaining_days=-3)
    assert c.paused_remaining_days == 0


def test_supplement_restarts_the_verification_clock() -> None:
    c = postponed()
    c.supplement(REPORTER, NOW, text="RT 05 RW 02", verification_due_at=NOW + 2 * D)
    assert new_events(c, 2) == ["InformationSupplemented"]
    assert c.state == S.SUBMITTED
    assert (c.clock, c.clock_started_at, c.due_at) == ("verification", NOW, NOW + 2 * D)
    assert c.clock_paused_at is None and c.paused_remaining_days is None


@pytest.mark.parametrize("build", [submitted, postponed])
def test_archive_stops_the_clock(build: Callable[[], Complaint]) -> None:
    c = build()
    n = len(c.pending_events)
    c.archive(ADMIN, NOW, reason=ArchiveReason.NOT_GOVERNMENT, note="urusan pribadi")
    assert new_events(c, n) == ["Archived"]
    assert c.state == S.ARCHIVED and c.is_terminal
    assert c.archive_reason == "not_government"
    assert (c.clock, c.clock_started_at, c.due_at, c.paused_remaining_days) == (
        None,
        None,
        None,
        None,
    )


def test_a_duplicate_is_archived_only_by_merging() -> None:
    c = filed_complaint()
    with pytest.raises(RuleViolation, match="merge"):
        c.archive(ADMIN, NOW, reason=ArchiveReason.DUPLICATE, note="")
    assert c.version == 1


@pytest.mark.parametrize("build", [submitted, postponed])
def test_merge_archives_the_duplicate(build: Callable[[], Complaint]) -> None:
    c = build()
    original = filed_complaint(2)
    n = len(c.pending_events)
    c.merge_into(ADMIN, NOW, original=original)
    assert new_events(c, n) == ["Merged"]
    merged = pending_event(c, -1, Complaint.Merged)
    assert (merged.into_id, merged.into_tracking_id) == (original.id, "LAP-2026-0000002")
    assert c.state == S.ARCHIVED
    assert c.archive_reason == "duplicate"
    assert c.merged_into == "LAP-2026-0000002"
    assert c.due_at is None and c.clock is None
    # The original carries on, with a trace of the duplicate (issue 10 item 7).
    assert new_events(original, 1) == ["DuplicateMerged"]
    trace = pending_event(original, -1, Complaint.DuplicateMerged)
    assert (trace.duplicate_id, trace.duplicate_tracking_id) == (c.id, c.tracking_id)
    assert original.state == S.SUBMITTED


def test_merge_into_itself_is_refused() -> None:
    c = filed_complaint()
    with pytest.raises(RuleViolation, match="itself"):
        c.merge_into(ADMIN, NOW, original=c)
    assert c.version == 1 and c.state == S.SUBMITTED


def test_merge_into_an_archived_complaint_is_refused() -> None:
    c = filed_complaint()
    gone = filed_complaint(2)
    gone.archive(ADMIN, T0 + H, reason=ArchiveReason.SPAM, note="")
    with pytest.raises(RuleViolation, match="archived"):
        c.merge_into(ADMIN, NOW, original=gone)
    assert c.version == 1 and c.state == S.SUBMITTED


def test_forward_before_verification_is_an_invalid_transition() -> None:
    c = filed_complaint()
    with pytest.raises(InvalidTransition, match="verify it first") as info:
        c.forward(ADMIN, NOW, target=A, note="", follow_up_due_at=FOLLOW_UP_DUE)
    assert str(info.value).startswith("cannot forward a complaint in state SUBMITTED")
    assert c.version == 1
