"""Issue 10 item 6: the agency the reporter chose at filing is verification's default target.

The desk confirms it (naming no agency, or the same one) or overrides it with a reason; with
no choice recorded it must name one. Verified became class_version 2 (`chosen_agency`,
`override_reason`); tests/unit/service/test_chosen_agency_and_merge.py loads a v1 event.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lapor_es.aggregates import AgencyRef, Complaint, ComplaintKind, RuleViolation, Visibility
from lapor_es.contract.payloads import public_payload
from lapor_es.workflow import verification_target
from tests.support.builders import filed_complaint, pending_event
from tests.unit.domain.transitions.world import (
    A_U1,
    ADMIN,
    FOLLOW_UP_DUE,
    NOW,
    A,
    B,
    S,
    names,
    replay,
)

AGENCIES = {"A": A, "B": B}
REASON = "Kewenangan jalan nasional ada di kementerian"


def verify(c: Complaint, target: AgencyRef | None, override_reason: str | None = None) -> None:
    c.verify(
        ADMIN,
        NOW,
        title="Jalan rusak di Bandung",
        category="infrastruktur",
        kind=ComplaintKind.COMPLAINT,
        visibility=Visibility.PUBLIC,
        target=target,
        override_reason=override_reason,
        note="",
        follow_up_due_at=FOLLOW_UP_DUE,
    )


def test_with_no_agency_named_the_chosen_agency_is_the_target() -> None:
    c = filed_complaint(target_agency="B")
    verify(c, B)  # the application passes the chosen agency when the desk names none
    assert c.holder_chain == ["B"] and c.state == S.FORWARDED
    verified = pending_event(c, -2, Complaint.Verified)
    assert (verified.chosen_agency, verified.override_reason) == ("B", None)


def test_sending_it_elsewhere_needs_a_reason_and_records_it() -> None:
    c = filed_complaint(target_agency="B")
    for blank in (None, "", "   "):
        with pytest.raises(RuleViolation) as refused:
            verify(c, A, blank)
        assert refused.value.details["field"] == "override_reason"
        assert refused.value.details["chosen_agency"] == "B"
        assert c.version == 1 and c.state == S.SUBMITTED
    verify(c, A, f"  {REASON} ")
    verified = pending_event(c, -2, Complaint.Verified)
    assert (verified.chosen_agency, verified.override_reason) == ("B", REASON)
    assert c.holder_chain == ["A"]
    # The override is on the published record, inside the hash.
    assert public_payload(verified)["override_reason"] == REASON


def test_no_choice_and_no_agency_is_refused_naming_to_agency() -> None:
    c = filed_complaint()
    with pytest.raises(RuleViolation) as refused:
        verify(c, None)
    assert refused.value.details["field"] == "to_agency"
    assert c.version == 1
    verify(c, A)  # with no choice the desk's agency is no override
    verified = pending_event(c, -2, Complaint.Verified)
    assert (verified.chosen_agency, verified.override_reason) == (None, None)
    # Fields a later version added are hashed only when set: v1's payload exactly.
    payload = public_payload(verified)
    assert "chosen_agency" not in payload and "override_reason" not in payload


def test_a_chosen_unit_cannot_be_the_target_without_an_override() -> None:
    c = filed_complaint(target_agency="A.U1")
    with pytest.raises(RuleViolation, match="not to a unit"):
        verify(c, A_U1)
    verify(c, A, REASON)
    assert c.holder_chain == ["A"]


def test_replay_rebuilds_the_verification() -> None:
    c = filed_complaint(target_agency="B")
    verify(c, A, REASON)
    events = list(c.collect_events())
    assert names(events) == ["Filed", "Verified", "Forwarded"]
    assert replay(events).holder_chain == ["A"]


@given(
    chosen=st.sampled_from([None, "A", "B"]),
    named=st.sampled_from([None, "A", "B"]),
    reason=st.sampled_from([None, "", "  ", REASON]),
)
def test_verify_succeeds_iff_the_target_is_the_choice_or_a_reason_is_given(
    chosen: str | None, named: str | None, reason: str | None
) -> None:
    """The property, through the aggregate: the target is the desk's agency, else the
    reporter's; it succeeds iff there is a target and it is the chosen one (or nothing was
    chosen) or a reason is given. Nothing is recorded when it is refused."""
    target = named or chosen
    has_reason = reason is not None and reason.strip() != ""
    expected = target is not None and (chosen is None or target == chosen or has_reason)
    c = filed_complaint(target_agency=chosen)
    try:
        verify(c, AGENCIES[target] if target else None, reason)
    except RuleViolation as refused:
        assert not expected
        assert refused.details["field"] == ("to_agency" if target is None else "override_reason")
        assert c.version == 1 and c.state == S.SUBMITTED
    else:
        assert expected
        assert c.holder_chain == [target]
        verified = pending_event(c, -2, Complaint.Verified)
        overridden = chosen is not None and target != chosen
        assert verified.chosen_agency == chosen
        assert verified.override_reason == (reason.strip() if overridden and reason else None)
    # The pure rule says the same.
    assert verification_target(chosen, named, reason).decided == expected
