"""The one clock rule of the read side (`lifecycle.clock_after`), from payloads alone, and
the two read models that keep a clock (inbox, deadlines) reading it the same way."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from lapor_es.contract.payloads import AnyPayload
from lapor_es.readmodels import inbox_state
from lapor_es.readmodels.deadlines import Deadline, evolve
from lapor_es.readmodels.lifecycle import NO_CLOCK, ClockRun, chain_after, clock_after
from lapor_es.workflow import ClockKind
from tests.support.builders import payload

V, F, A = ClockKind.VERIFICATION, ClockKind.FOLLOW_UP, ClockKind.AUTO_RESOLVE
T0 = datetime(2025, 11, 3, 2, tzinfo=UTC)


def due(days: int) -> datetime:
    return T0 + timedelta(days=days)


def ev(type_: str, version: int, **fields: Any) -> AnyPayload:
    """Event `version` of the complaint, `version` hours after T0."""
    return payload(type_, version=version, at=T0 + timedelta(hours=version), **fields)


def filed(version: int = 1) -> AnyPayload:
    return ev(
        "Filed",
        version,
        kind="complaint",
        channel="web",
        title="Air",
        description="Air mati",
        category=None,
        location=None,
        visibility="public",
        target_agency=None,
        verification_due_at=due(3),
    )


def forwarded(version: int, to: str, frm: str | None = None) -> AnyPayload:
    level = "unit" if frm else "agency"
    return ev(
        "Forwarded",
        version,
        from_agency=frm,
        to_agency=to,
        level=level,
        note="",
        follow_up_due_at=due(5),
    )


def declined(version: int, agency: str, returned_to: str | None) -> AnyPayload:
    return ev(
        "ForwardingDeclined",
        version,
        agency=agency,
        reason="bukan wewenang",
        suggested_agency=None,
        returned_to=returned_to,
        verification_due_at=None if returned_to else due(6),
    )


def responded(version: int, kind: str) -> AnyPayload:
    return ev(
        "Responded",
        version,
        agency="KEMENKES",
        kind=kind,
        text="t",
        follow_up_due_at=None if kind == "final" else due(7),
        auto_resolve_due_at=due(8) if kind == "final" else None,
    )


def replied(version: int, kind: str, **dues: datetime | None) -> AnyPayload:
    fields: dict[str, Any] = {"follow_up_due_at": None, "auto_resolve_due_at": None} | dues
    return ev("ReporterReplied", version, role="reporter", kind=kind, text="t", **fields)


RUNNING = ClockRun(F, due(5))


@pytest.mark.parametrize(
    ("before", "payload", "after"),
    [
        (NO_CLOCK, filed(), ClockRun(V, due(3), started=True)),
        (ClockRun(V, due(3)), ev("Postponed", 2, reason="r", remaining_days=2), ClockRun(V, None)),
        (
            ClockRun(V, None),
            ev("InformationSupplemented", 3, text="t", verification_due_at=due(4)),
            ClockRun(V, due(4), started=True),
        ),
        (ClockRun(V, due(3)), forwarded(2, "KEMENKES"), ClockRun(F, due(5), started=True)),
        (RUNNING, declined(3, "KEMENKES.UNIT", "KEMENKES"), RUNNING),  # the parent's clock runs
        (RUNNING, declined(3, "KEMENKES", None), ClockRun(V, due(6), started=True)),
        (RUNNING, responded(3, "interim"), ClockRun(F, due(7), started=True)),
        (RUNNING, responded(3, "final"), ClockRun(A, due(8), started=True)),
        (
            ClockRun(A, due(8)),
            replied(4, "comment", auto_resolve_due_at=due(9)),
            ClockRun(A, due(9), started=True),
        ),
        (
            ClockRun(A, due(8)),
            replied(4, "dispute", follow_up_due_at=due(9)),
            ClockRun(F, due(9), started=True),
        ),
        (ClockRun(F, due(5)), replied(4, "comment"), ClockRun(F, due(5))),  # outside the window
        (ClockRun(A, due(8)), ev("Resolved", 5, mode="auto_closed", note=""), NO_CLOCK),
        (ClockRun(V, due(3)), ev("Archived", 2, reason="spam", note=""), NO_CLOCK),
        (
            NO_CLOCK,
            ev("Reopened", 6, reason="r", follow_up_due_at=due(10)),
            ClockRun(F, due(10), started=True),
        ),
        (RUNNING, ev("WorkStarted", 3, agency="KEMENKES"), RUNNING),
        (RUNNING, ev("SlaWarned", 3, clock="follow_up", due_at=due(5)), RUNNING),
    ],
    ids=lambda value: getattr(value, "type", None) if not isinstance(value, ClockRun) else "",
)
def test_clock_after(before: ClockRun, payload: AnyPayload, after: ClockRun) -> None:
    assert clock_after(before.kind, before.due_at, payload) == after


def history() -> list[AnyPayload]:
    """Filing, a unit that declines back to its parent, an interim and a final response, a
    comment in the reply window, a dispute, a final response, resolution and a reopen."""
    return [
        filed(1),
        ev("Postponed", 2, reason="r", remaining_days=2),
        ev("InformationSupplemented", 3, text="t", verification_due_at=due(4)),
        forwarded(4, "KEMENKES"),
        forwarded(5, "KEMENKES.UNIT", "KEMENKES"),
        declined(6, "KEMENKES.UNIT", "KEMENKES"),
        ev("WorkStarted", 7, agency="KEMENKES"),
        responded(8, "interim"),
        responded(9, "final"),
        replied(10, "comment", auto_resolve_due_at=due(9)),
        replied(11, "dispute", follow_up_due_at=due(10)),
        responded(12, "final"),
        ev("Resolved", 13, mode="confirmed_by_reporter", note=""),
        ev("Reopened", 14, reason="r", follow_up_due_at=due(12)),
    ]


def test_inbox_and_deadlines_read_the_same_clock_at_every_step() -> None:
    inbox: inbox_state.InboxState | None = None
    deadline: Deadline | None = None
    chain: tuple[str, ...] = ()
    for event in history():
        chain = chain_after(chain, event)
        inbox = inbox_state.advance(inbox, event)
        deadline = evolve(deadline, event, chain[-1] if chain else None)
        shown = (None, None) if deadline is None else (deadline.clock, deadline.due_at)
        assert (inbox.clock, inbox.due_at) == shown, event.type
        assert deadline is None or deadline.state == inbox.state, event.type
    assert inbox is not None and (inbox.clock, inbox.due_at) == ("follow_up", due(12))
