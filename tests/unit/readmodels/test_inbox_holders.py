"""Holder-chain reconstruction and the inbox's per-complaint state, from payloads alone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lapor_es.aggregates.values import ComplaintState as S
from lapor_es.contract.payloads import AnyPayload
from lapor_es.readmodels.inbox_state import (
    Holding,
    InboxState,
    advance,
    reporter_display,
)
from lapor_es.readmodels.lifecycle import chain_after
from tests.support.builders import payload

T0 = datetime(2026, 2, 23, 2, tzinfo=UTC)
DUE = datetime(2026, 3, 2, 17, tzinfo=UTC)


def ev(type_: str, version: int, role: str = "national_admin", **fields: Any) -> AnyPayload:
    """Event `version` of the complaint, `version` hours after T0."""
    return payload(type_, version=version, at=T0 + timedelta(hours=version), role=role, **fields)


def filed(visibility: str = "public") -> AnyPayload:
    return ev(
        "Filed",
        1,
        "reporter",
        kind="complaint",
        channel="web",
        title="Air",
        description="d",
        category=None,
        location=None,
        visibility=visibility,
        target_agency=None,
        verification_due_at=DUE,
    )


def forwarded(version: int, to: str, frm: str | None = None) -> AnyPayload:
    return ev(
        "Forwarded",
        version,
        "national_admin" if frm is None else "agency_admin",
        from_agency=frm,
        to_agency=to,
        level="agency" if frm is None else "unit",
        note="",
        follow_up_due_at=DUE + timedelta(days=version),
    )


def declined(version: int, agency: str, returned_to: str | None) -> AnyPayload:
    return ev(
        "ForwardingDeclined",
        version,
        "agency_admin",
        agency=agency,
        reason="r",
        suggested_agency=None,
        returned_to=returned_to,
        verification_due_at=None if returned_to else DUE,
    )


def run(*payloads: AnyPayload) -> InboxState:
    state: InboxState | None = None
    for p in payloads:
        state = advance(state, p)
    assert state is not None
    return state


def test_desk_forward_resets_the_chain_and_agency_forward_cuts_below_the_actor() -> None:
    assert chain_after((), forwarded(3, "A")) == ("A",)
    assert chain_after(("A", "A.X"), forwarded(5, "B")) == ("B",)
    assert chain_after(("A", "A.X", "A.X.1"), forwarded(5, "A.Y", frm="A")) == ("A", "A.Y")
    assert chain_after(("A", "A.X"), forwarded(5, "A.X.1", frm="A.X")) == ("A", "A.X", "A.X.1")


def test_decline_goes_one_step_up_and_must_fit_the_chain() -> None:
    assert chain_after(("A", "A.X"), declined(5, "A.X", "A")) == ("A",)
    assert chain_after(("A",), declined(5, "A", None)) == ()
    with pytest.raises(ValueError, match="does not hold"):
        chain_after(("A", "A.X"), declined(5, "A", None))
    with pytest.raises(ValueError, match="expected"):
        chain_after(("A", "A.X"), declined(5, "A.X", None))
    with pytest.raises(ValueError, match="not on its holder chain"):
        chain_after(("A",), forwarded(5, "B.X", frm="B"))


def test_inbox_agencies_follow_the_chain_and_state() -> None:
    s = run(filed(), forwarded(2, "A"), forwarded(3, "A.X", frm="A"))
    assert s.state is S.FORWARDED
    assert s.inbox_agencies() == [("A", False), ("A.X", True)]
    assert s.forwarding_path == "A > A.X"
    assert s.due_at == DUE + timedelta(days=3)

    s = advance(s, declined(4, "A.X", "A"))
    assert s.inbox_agencies() == [("A", True)]
    assert s.due_at == DUE + timedelta(days=3)  # the running clock is left alone
    assert s.holdings == (
        Holding("A", T0 + timedelta(hours=2), None),
        Holding("A.X", T0 + timedelta(hours=3), T0 + timedelta(hours=4)),
    )

    s = advance(s, declined(5, "A", None))
    assert (s.state, s.chain, s.inbox_agencies(), s.clock) == (S.SUBMITTED, (), [], "verification")


def test_responded_stays_resolved_leaves_reopen_returns() -> None:
    s = run(filed(), forwarded(2, "A"))
    s = advance(
        s,
        ev(
            "ReporterReplied",
            3,
            "reporter",
            kind="comment",
            text="t",
            follow_up_due_at=None,
            auto_resolve_due_at=None,
        ),
    )
    assert s.reply_pending
    s = advance(
        s,
        ev(
            "Responded",
            4,
            "agency_admin",
            agency="A",
            kind="final",
            text="t",
            follow_up_due_at=None,
            auto_resolve_due_at=DUE,
        ),
    )
    assert (s.state, s.clock, s.reply_pending) == (S.RESPONDED, "auto_resolve", False)
    assert s.inbox_agencies() == [("A", True)]
    s = advance(s, ev("Resolved", 5, "system", mode="auto_closed", note=""))
    assert (s.state, s.inbox_agencies(), s.clock, s.due_at) == (S.RESOLVED, [], None, None)
    s = advance(s, ev("Reopened", 6, reason="r", follow_up_due_at=DUE))
    assert (s.state, s.inbox_agencies(), s.reopen_count) == (S.IN_PROGRESS, [("A", True)], 1)


def test_record_round_trip() -> None:
    s = run(filed(), forwarded(2, "A"), forwarded(3, "A.X", frm="A"))
    assert InboxState.from_record(s.to_record()) == s


@pytest.mark.parametrize(
    ("visibility", "erased", "shown"),
    [
        ("public", False, "lapor-es show LAP-1 --as agency:A"),
        ("anonymous", False, "Anonim"),
        ("confidential", False, "Rahasia"),
        ("anonymous", True, "[erased]"),
    ],
)
def test_reporter_display(visibility: str, erased: bool, shown: str) -> None:
    assert reporter_display(visibility, erased=erased, tracking_id="LAP-1", agency="A") == shown


def test_an_event_before_filed_is_refused() -> None:
    with pytest.raises(ValueError, match="before the complaint's Filed"):
        advance(None, forwarded(2, "A"))
