"""The deadline rows as pure functions of the published events (no database).

Dates: Mon 3 Nov 2025 is an ordinary working week in Indonesia (no holiday from October to
24 December 2025). WIB is UTC+7, so 00:00 WIB is 17:00Z of the day before.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lapor_es.contract import payloads as p
from lapor_es.readmodels.deadlines import Deadline, chain_after, evolve
from lapor_es.workflow import ClockKind, LadderStep, SlaPolicy, WorkingCalendar
from tests.support.builders import COMPLAINT_ID, payload


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


_version = {"n": 0}


def ev(event_type: str, at: str, **fields: Any) -> p.EventPayload:
    """A valid payload of type `event_type`; versions count up per test."""
    _version["n"] += 1
    return payload(event_type, version=_version["n"], at=at, **fields)


@pytest.fixture(autouse=True)
def _fresh_versions() -> None:
    _version["n"] = 0


def filed(at: str = "2025-10-31T02:00:00Z", due: str = "2025-11-05T17:00:00Z") -> p.EventPayload:
    return ev(
        "Filed",
        at,
        kind="complaint",
        channel="web",
        title="Air",
        description="Air mati dua minggu",
        category=None,
        location=None,
        visibility="public",
        target_agency=None,
        verification_due_at=due,
    )


def forwarded(at: str, to: str, src: str | None = None, due: str = "2025-11-10T17:00:00Z") -> Any:
    return ev(
        "Forwarded",
        at,
        from_agency=src,
        to_agency=to,
        level="unit" if src else "agency",
        note="",
        follow_up_due_at=due,
    )


def rung(kind: str, at: str, due: str, clock: str = "follow_up", **extra: Any) -> Any:
    return ev(kind, at, clock=clock, due_at=due, **extra)


def run(*payloads: p.EventPayload) -> Deadline | None:
    """Fold events the way the read model does, carrying the holder chain alongside."""
    current: Deadline | None = None
    chain: list[str] = []
    for event in payloads:
        chain = chain_after(chain, event)
        current = evolve(current, event, chain[-1] if chain else None)
    return current


# ---------------------------------------------------------------- holder chain
def test_chain_desk_replaces_agency_cuts_after_itself_decline_drops_holder() -> None:
    fwd = forwarded("2025-11-03T03:00:00Z", "KEMENKES")
    assert chain_after(["KEMENSOS", "KEMENSOS.X"], fwd) == ["KEMENKES"]
    unit = forwarded("2025-11-03T04:00:00Z", "KEMENKES.YANKES", src="KEMENKES")
    assert chain_after(["KEMENKES", "KEMENKES.ITJEN"], unit) == ["KEMENKES", "KEMENKES.YANKES"]
    declined = ev(
        "ForwardingDeclined",
        "2025-11-03T05:00:00Z",
        agency="KEMENKES.YANKES",
        reason="bukan wewenang",
        suggested_agency=None,
        returned_to="KEMENKES",
        verification_due_at=None,
    )
    assert chain_after(["KEMENKES", "KEMENKES.YANKES"], declined) == ["KEMENKES"]
    assert chain_after(["KEMENKES"], filed()) == ["KEMENKES"]


# ---------------------------------------------------------------- clock lifecycle
def test_filing_starts_the_verification_clock_at_the_desk() -> None:
    d = run(filed())
    assert d is not None
    assert (d.clock, d.due_at, d.holder, d.state) == (
        ClockKind.VERIFICATION,
        z("2025-11-05T17:00:00Z"),
        None,
        "SUBMITTED",
    )
    assert d.done == frozenset()


def test_forwarding_replaces_the_clock_and_clears_the_rungs() -> None:
    d = run(
        filed(),
        rung("SlaWarned", "2025-11-04T17:00:00Z", "2025-11-05T17:00:00Z", clock="verification"),
        forwarded("2025-11-05T03:00:00Z", "KEMENKES", due="2025-11-12T17:00:00Z"),
    )
    assert d is not None
    assert (d.clock, d.started_at, d.due_at, d.holder, d.warned) == (
        ClockKind.FOLLOW_UP,
        z("2025-11-05T03:00:00Z"),
        z("2025-11-12T17:00:00Z"),
        "KEMENKES",
        False,
    )


def test_rungs_count_only_for_the_running_clock_run() -> None:
    due = "2025-11-10T17:00:00Z"
    d = run(
        filed(),
        forwarded("2025-11-03T03:00:00Z", "KEMENKES", due=due),
        rung("SlaWarned", "2025-11-09T17:00:00Z", "2025-11-01T17:00:00Z"),  # another due time
        rung("SlaWarned", "2025-11-09T17:00:00Z", due),
        rung("SlaBreached", "2025-11-10T17:00:00Z", due),
    )
    assert d is not None
    assert (d.warned, d.breached, d.escalated_parent) == (True, True, False)
    # Breached but not yet escalated: the BREACH step is still owed (the timer finishes it).
    assert d.done == frozenset({LadderStep.WARNING})
    d = evolve(
        d, rung("Escalated", "2025-11-10T17:00:00Z", due, level="parent", to_agency="L"), d.holder
    )
    assert d is not None and d.done == frozenset({LadderStep.WARNING, LadderStep.BREACH})


def test_postponement_pauses_and_supplement_resumes_with_a_new_due_time() -> None:
    paused = run(
        filed(),
        ev("Postponed", "2025-11-03T03:00:00Z", reason="Mohon lengkapi", remaining_days=2),
    )
    assert paused is not None
    assert (paused.state, paused.due_at, paused.paused_at, paused.remaining_days) == (
        "POSTPONED",
        None,
        z("2025-11-03T03:00:00Z"),
        2,
    )
    assert paused.next(SlaPolicy(), WorkingCalendar()) == (None, None)
    resumed = evolve(
        paused,
        ev(
            "InformationSupplemented",
            "2026-01-05T03:00:00Z",
            text="alamat",
            verification_due_at="2026-01-07T17:00:00Z",
        ),
        None,
    )
    assert resumed is not None
    assert (resumed.state, resumed.due_at, resumed.paused_at) == (
        "SUBMITTED",
        z("2026-01-07T17:00:00Z"),
        None,
    )


@pytest.mark.parametrize(
    ("closing", "fields"),
    [
        ("Resolved", {"mode": "by_admin", "note": ""}),
        ("Archived", {"reason": "spam", "note": ""}),
        (
            "Merged",
            {
                "into_id": "00000000-0000-0000-0000-000000000002",
                "into_tracking_id": "LAP-2025-0000002",
            },
        ),
    ],
)
def test_closing_events_remove_the_row(closing: str, fields: dict[str, Any]) -> None:
    assert run(filed(), ev(closing, "2025-11-03T03:00:00Z", **fields)) is None


def test_decline_to_parent_keeps_the_clock_decline_to_desk_restarts_verification() -> None:
    base = [
        filed(),
        forwarded("2025-11-03T03:00:00Z", "KEMENKES"),
        forwarded(
            "2025-11-03T04:00:00Z", "KEMENKES.ITJEN", src="KEMENKES", due="2025-11-10T17:00:00Z"
        ),
    ]
    to_parent = ev(
        "ForwardingDeclined",
        "2025-11-04T03:00:00Z",
        agency="KEMENKES.ITJEN",
        reason="bukan wewenang",
        suggested_agency=None,
        returned_to="KEMENKES",
        verification_due_at=None,
    )
    d = run(*base, to_parent)
    assert d is not None
    assert (d.clock, d.due_at, d.holder, d.state) == (
        ClockKind.FOLLOW_UP,
        z("2025-11-10T17:00:00Z"),
        "KEMENKES",
        "FORWARDED",
    )
    to_desk = ev(
        "ForwardingDeclined",
        "2025-11-05T03:00:00Z",
        agency="KEMENKES",
        reason="bukan wewenang",
        suggested_agency="KEMENSOS",
        returned_to=None,
        verification_due_at="2025-11-10T17:00:00Z",
    )
    d = run(*base, to_parent, to_desk)
    assert d is not None
    assert (d.clock, d.holder, d.state, d.started_at) == (
        ClockKind.VERIFICATION,
        None,
        "SUBMITTED",
        z("2025-11-05T03:00:00Z"),
    )


def test_responses_replies_and_reopen() -> None:
    fwd = [filed(), forwarded("2025-11-03T03:00:00Z", "KEMENKES")]
    final = ev(
        "Responded",
        "2025-11-05T03:00:00Z",
        agency="KEMENKES",
        kind="final",
        text="ok",
        follow_up_due_at=None,
        auto_resolve_due_at="2025-11-19T17:00:00Z",
    )
    d = run(*fwd, final)
    assert d is not None
    assert (d.clock, d.due_at, d.state, d.holder) == (
        ClockKind.AUTO_RESOLVE,
        z("2025-11-19T17:00:00Z"),
        "RESPONDED",
        "KEMENKES",
    )
    comment = ev(
        "ReporterReplied",
        "2025-11-17T03:00:00Z",
        kind="comment",
        text="masih",
        follow_up_due_at=None,
        auto_resolve_due_at="2025-12-01T17:00:00Z",
    )
    d2 = evolve(d, comment, d.holder)
    assert d2 is not None
    assert (d2.clock, d2.due_at, d2.started_at, d2.state) == (
        ClockKind.AUTO_RESOLVE,
        z("2025-12-01T17:00:00Z"),
        z("2025-11-17T03:00:00Z"),
        "RESPONDED",
    )
    dispute = ev(
        "ReporterReplied",
        "2025-11-17T03:00:00Z",
        kind="dispute",
        text="belum",
        follow_up_due_at="2025-11-24T17:00:00Z",
        auto_resolve_due_at=None,
    )
    d3 = evolve(d, dispute, d.holder)
    assert d3 is not None
    assert (d3.clock, d3.due_at, d3.state) == (
        ClockKind.FOLLOW_UP,
        z("2025-11-24T17:00:00Z"),
        "IN_PROGRESS",
    )
    # Resolved then reopened: the row comes back with the holder the chain still names.
    resolved = ev("Resolved", "2025-11-20T03:00:00Z", mode="auto_closed", note="")
    reopened = ev(
        "Reopened", "2025-11-21T03:00:00Z", reason="lagi", follow_up_due_at="2025-11-28T17:00:00Z"
    )
    assert run(*fwd, final, resolved) is None
    d4 = run(*fwd, final, resolved, reopened)
    assert d4 is not None
    assert (d4.clock, d4.holder, d4.state) == (ClockKind.FOLLOW_UP, "KEMENKES", "IN_PROGRESS")


def test_interim_response_restarts_follow_up_and_work_started_moves_state_only() -> None:
    d = run(
        filed(),
        forwarded("2025-11-03T03:00:00Z", "KEMENKES"),
        ev("WorkStarted", "2025-11-04T03:00:00Z", agency="KEMENKES"),
    )
    assert d is not None and (d.state, d.due_at) == ("IN_PROGRESS", z("2025-11-10T17:00:00Z"))
    interim = ev(
        "Responded",
        "2025-11-05T03:00:00Z",
        agency="KEMENKES",
        kind="interim",
        text="sedang",
        follow_up_due_at="2025-11-12T17:00:00Z",
        auto_resolve_due_at=None,
    )
    d2 = evolve(d, interim, d.holder)
    assert d2 is not None and (d2.clock, d2.due_at) == (
        ClockKind.FOLLOW_UP,
        z("2025-11-12T17:00:00Z"),
    )


# ---------------------------------------------------------------- next step
def test_next_step_follows_the_ladder_on_the_indonesian_calendar() -> None:
    """Follow-up due 11 Nov 2025 00:00 WIB: warning 10 Nov 00:00 WIB, breach at the due
    time, national at the end of 11, 12, 13, 14, 17 Nov (18 Nov 00:00 WIB)."""
    policy, cal = SlaPolicy(), WorkingCalendar()
    due = "2025-11-10T17:00:00Z"
    events: list[p.EventPayload] = [filed(), forwarded("2025-11-03T03:00:00Z", "KEMENKES", due=due)]
    d = run(*events)
    assert d is not None
    assert d.next(policy, cal) == (LadderStep.WARNING, z("2025-11-09T17:00:00Z"))
    d = evolve(d, rung("SlaWarned", "2025-11-09T17:00:00Z", due), d.holder)
    assert d is not None and d.next(policy, cal) == (LadderStep.BREACH, z(due))
    d = evolve(d, rung("SlaBreached", due, due), d.holder)
    d = evolve(d, rung("Escalated", due, due, level="parent", to_agency="LAPOR"), "KEMENKES")
    assert d is not None
    assert d.next(policy, cal) == (LadderStep.NATIONAL, z("2025-11-17T17:00:00Z"))
    d = evolve(d, rung("Escalated", due, due, level="national", to_agency="LAPOR"), "KEMENKES")
    assert d is not None and d.next(policy, cal) == (None, None)


def test_auto_resolve_has_a_single_step_at_its_due_time() -> None:
    d = Deadline(
        complaint_id=COMPLAINT_ID,
        tracking_id="LAP-2026-0000001",
        clock=ClockKind.AUTO_RESOLVE,
        started_at=datetime(2025, 11, 5, 3, tzinfo=UTC),
        due_at=datetime(2025, 11, 19, 17, tzinfo=UTC),
        paused_at=None,
        remaining_days=None,
        holder="KEMENKES",
        state="RESPONDED",
        version=4,
        last_event_at=datetime(2025, 11, 5, 3, tzinfo=UTC),
    )
    assert d.next(SlaPolicy(), WorkingCalendar()) == (
        LadderStep.AUTO_RESOLVE,
        datetime(2025, 11, 19, 17, tzinfo=UTC),
    )
