"""Issue 10 item 1: lowering a complaint's visibility is explicit, reasoned and recorded,
whichever command does it; raising it may be silent."""

from __future__ import annotations

import pytest

from lapor_es.aggregates import (
    Complaint,
    ComplaintKind,
    RuleViolation,
    Visibility,
)
from tests.support.builders import filed_complaint, pending_event
from tests.unit.domain.transitions.world import (
    ADMIN,
    FOLLOW_UP_DUE,
    NOW,
    T0,
    A,
    H,
    forwarded,
    names,
)


def verify_as(c: Complaint, visibility: Visibility, reason: str | None = None) -> None:
    c.verify(
        ADMIN,
        T0 + H,
        title="Jalan rusak di Bandung",
        category="infrastruktur",
        kind=ComplaintKind.COMPLAINT,
        visibility=visibility,
        visibility_reason=reason,
        target=A,
        note="",
        follow_up_due_at=FOLLOW_UP_DUE,
    )


@pytest.mark.parametrize(
    ("filed", "verified"),
    [
        (Visibility.ANONYMOUS, Visibility.PUBLIC),
        (Visibility.CONFIDENTIAL, Visibility.PUBLIC),
        (Visibility.CONFIDENTIAL, Visibility.ANONYMOUS),
    ],
)
def test_verify_that_lowers_visibility_without_a_reason_is_refused(
    filed: Visibility, verified: Visibility
) -> None:
    c = filed_complaint(visibility=filed)
    with pytest.raises(RuleViolation) as refused:
        verify_as(c, verified)
    assert refused.value.details["field"] == "visibility_reason"
    assert c.version == 1 and c.visibility == filed


def test_verify_that_lowers_visibility_records_it_with_the_reason() -> None:
    c = filed_complaint(visibility=Visibility.ANONYMOUS)
    verify_as(c, Visibility.PUBLIC, "pelapor meminta dipublikasikan")
    assert names(c.pending_events) == ["Filed", "VisibilityChanged", "Verified", "Forwarded"]
    change = pending_event(c, 1, Complaint.VisibilityChanged)
    assert (change.old, change.new, change.reason) == (
        "anonymous",
        "public",
        "pelapor meminta dipublikasikan",
    )
    assert c.visibility == "public"


def test_verify_that_raises_visibility_needs_no_reason() -> None:
    c = filed_complaint(visibility=Visibility.PUBLIC)
    verify_as(c, Visibility.CONFIDENTIAL)
    assert names(c.pending_events) == ["Filed", "Verified", "Forwarded"]
    assert c.visibility == "confidential"


def test_change_visibility_that_lowers_needs_a_reason() -> None:
    c = forwarded()
    c.change_visibility(ADMIN, NOW, visibility=Visibility.CONFIDENTIAL, reason="")
    with pytest.raises(RuleViolation) as refused:
        c.change_visibility(ADMIN, NOW, visibility=Visibility.PUBLIC, reason="  ")
    assert refused.value.details["field"] == "reason"
    assert c.visibility == "confidential"
