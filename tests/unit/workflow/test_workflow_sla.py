"""Example tests for SLA policy and clocks (dates derived by hand from the holiday list)."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, astuple
from datetime import datetime

import pytest

from lapor_es.workflow import (
    JAKARTA,
    ClockKind,
    SlaClock,
    SlaPolicy,
    WorkingCalendar,
    clock_status,
    pause_clock,
    resume_clock,
    start_clock,
)

POLICY = SlaPolicy()


def wib(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=JAKARTA)


def test_policy_defaults() -> None:
    assert astuple(POLICY) == (3, 5, 10, 1, 5, 30)
    assert POLICY.national_escalation_after_days == 5
    assert POLICY.reopen_window_days == 30
    assert POLICY.limit_for(ClockKind.VERIFICATION) == 3
    assert POLICY.limit_for(ClockKind.FOLLOW_UP) == 5
    assert POLICY.limit_for(ClockKind.AUTO_RESOLVE) == 10
    with pytest.raises(FrozenInstanceError):
        POLICY.follow_up_days = 7  # type: ignore[misc]


@pytest.mark.parametrize("bad", [0, -1, True, 2.5, "3"])
@pytest.mark.parametrize("field", ["verification_days", "warn_before_days", "reopen_window_days"])
def test_policy_rejects_non_positive_ints(field: str, bad: object) -> None:
    with pytest.raises(ValueError, match=field):
        SlaPolicy(**{field: bad})  # type: ignore[arg-type]


def test_clock_kind_values() -> None:
    assert [str(k) for k in ClockKind] == ["verification", "follow_up", "auto_resolve"]


@pytest.mark.parametrize(
    ("kind", "at", "due"),
    [
        # Filed Fri 29 Apr 2022 15:00 (Idul Fitri leave): Mon 9, Tue 10, Wed 11 May.
        (ClockKind.VERIFICATION, wib(2022, 4, 29, 15), wib(2022, 5, 12)),
        # Forwarded Tue 18 Apr 2023: 26, 27, 28 Apr, (1 May off), 2, 3 May.
        (ClockKind.FOLLOW_UP, wib(2023, 4, 18, 10), wib(2023, 5, 4)),
        # Final response Tue 18 Apr 2023: 26, 27, 28 Apr, 2, 3, 4, 5, 8, 9, 10 May.
        (ClockKind.AUTO_RESOLVE, wib(2023, 4, 18, 10), wib(2023, 5, 11)),
    ],
)
def test_start_clock(cal: WorkingCalendar, kind: ClockKind, at: datetime, due: datetime) -> None:
    clock = start_clock(kind, at, POLICY, cal)
    assert clock.kind is kind
    assert clock.started_at == at
    assert clock.limit_days == POLICY.limit_for(kind)
    assert clock.due_at == due
    assert clock.paused_at is None
    assert not clock.paused
    assert clock.remaining_days == clock.limit_days


def test_restart_on_forwarding_is_a_fresh_clock(cal: WorkingCalendar) -> None:
    first = start_clock(ClockKind.FOLLOW_UP, wib(2024, 7, 1, 10), POLICY, cal)
    assert first.due_at == wib(2024, 7, 9)  # Tue 2 .. Mon 8 Jul
    again = start_clock(ClockKind.FOLLOW_UP, wib(2024, 7, 4, 10), POLICY, cal)
    assert again.due_at == wib(2024, 7, 12)  # Fri 5, Mon 8 .. Thu 11 Jul


def test_start_clock_rejects_naive(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="at"):
        start_clock(ClockKind.VERIFICATION, datetime(2024, 7, 1), POLICY, cal)


def test_pause_and_resume(cal: WorkingCalendar) -> None:
    # Filed Mon 1 Jul 2024 10:00: due end of Thu 4 Jul (2, 3, 4).
    clock = start_clock(ClockKind.VERIFICATION, wib(2024, 7, 1, 10), POLICY, cal)
    assert clock.due_at == wib(2024, 7, 5)
    # Postponed Tue 2 Jul 14:00: Tue has started running and is used; Wed 3, Thu 4 remain.
    paused = pause_clock(clock, wib(2024, 7, 2, 14), cal)
    assert paused.paused
    assert paused.due_at is None
    assert paused.paused_at == wib(2024, 7, 2, 14)
    assert paused.remaining_days == 2
    # Supplemented Mon 8 Jul 09:00: Tue 9, Wed 10.
    resumed = resume_clock(paused, wib(2024, 7, 8, 9), cal)
    assert resumed.due_at == wib(2024, 7, 11)
    assert resumed.paused_at is None
    assert resumed.remaining_days == 2
    assert resumed.started_at == clock.started_at
    # Resuming on the same day as the pause keeps the original deadline.
    assert resume_clock(paused, wib(2024, 7, 2, 16), cal).due_at == clock.due_at


def test_pause_across_idul_fitri(cal: WorkingCalendar) -> None:
    # Filed Mon 17 Apr 2023 10:00: Tue 18, Wed 26, Thu 27 -> due end of Thu 27 Apr.
    clock = start_clock(ClockKind.VERIFICATION, wib(2023, 4, 17, 10), POLICY, cal)
    assert clock.due_at == wib(2023, 4, 28)
    # Paused on Tue 18 (used): 26, 27 remain.
    paused = pause_clock(clock, wib(2023, 4, 18, 9), cal)
    assert paused.remaining_days == 2
    # Resumed Wed 26 Apr 11:00: Thu 27, Fri 28.
    assert resume_clock(paused, wib(2023, 4, 26, 11), cal).due_at == wib(2023, 4, 29)


def test_pause_on_filing_day_keeps_the_full_limit(cal: WorkingCalendar) -> None:
    clock = start_clock(ClockKind.VERIFICATION, wib(2024, 7, 1, 10), POLICY, cal)
    assert pause_clock(clock, wib(2024, 7, 1, 15), cal).remaining_days == 3


def test_pause_when_overdue_keeps_zero(cal: WorkingCalendar) -> None:
    clock = start_clock(ClockKind.VERIFICATION, wib(2024, 7, 1, 10), POLICY, cal)
    paused = pause_clock(clock, wib(2024, 7, 9, 10), cal)  # two working days overdue
    assert paused.remaining_days == 0
    # Due at the end of the resume day (Wed 10 Jul).
    assert resume_clock(paused, wib(2024, 7, 10, 10), cal).due_at == wib(2024, 7, 11)


def test_pause_resume_errors(cal: WorkingCalendar) -> None:
    clock = start_clock(ClockKind.VERIFICATION, wib(2024, 7, 1, 10), POLICY, cal)
    with pytest.raises(ValueError, match="not paused"):
        resume_clock(clock, wib(2024, 7, 2), cal)
    paused = pause_clock(clock, wib(2024, 7, 2, 14), cal)
    with pytest.raises(ValueError, match="already paused"):
        pause_clock(paused, wib(2024, 7, 3), cal)
    with pytest.raises(ValueError, match="before"):
        resume_clock(paused, wib(2024, 7, 2, 13), cal)
    with pytest.raises(ValueError, match="at"):
        pause_clock(clock, datetime(2024, 7, 2), cal)


def test_clock_invariants() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        SlaClock(ClockKind.VERIFICATION, wib(2024, 7, 1), 3, None, None, 3)
    with pytest.raises(ValueError, match="started_at"):
        SlaClock(ClockKind.VERIFICATION, datetime(2024, 7, 1), 3, wib(2024, 7, 5), None, 3)


def test_clock_status_running(cal: WorkingCalendar) -> None:
    # Forwarded Tue 18 Apr 2023: due end of Wed 3 May.
    clock = start_clock(ClockKind.FOLLOW_UP, wib(2023, 4, 18, 10), POLICY, cal)
    early = clock_status(clock, wib(2023, 4, 27, 9), cal)
    assert early.kind is ClockKind.FOLLOW_UP
    assert early.due_at == wib(2023, 5, 4)
    assert not early.paused
    assert early.working_days_left == 3  # 28 Apr, 2, 3 May
    assert not early.overdue
    assert early.warn_at == wib(2023, 5, 3)

    due_day = clock_status(clock, wib(2023, 5, 3, 23, 59), cal)
    assert (due_day.working_days_left, due_day.overdue) == (0, False)

    at_due = clock_status(clock, wib(2023, 5, 4), cal)
    assert (at_due.working_days_left, at_due.overdue) == (-1, True)

    late = clock_status(clock, wib(2023, 5, 5, 9), cal)
    assert (late.working_days_left, late.overdue) == (-2, True)

    custom = clock_status(clock, wib(2023, 4, 27, 9), cal, policy=SlaPolicy(warn_before_days=2))
    assert custom.warn_at == wib(2023, 5, 2)


def test_clock_status_paused(cal: WorkingCalendar) -> None:
    clock = start_clock(ClockKind.VERIFICATION, wib(2024, 7, 1, 10), POLICY, cal)
    paused = pause_clock(clock, wib(2024, 7, 2, 14), cal)
    status = clock_status(paused, wib(2024, 8, 30), cal)
    assert status.paused
    assert status.due_at is None
    assert status.warn_at is None
    assert status.working_days_left == 2
    assert not status.overdue
