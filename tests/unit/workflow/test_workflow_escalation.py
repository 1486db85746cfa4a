"""Example tests for the escalation ladder (dates derived by hand from the holiday list)."""

from __future__ import annotations

from datetime import datetime

import pytest

from lapor_es.workflow import (
    JAKARTA,
    ClockKind,
    LadderStep,
    PendingStep,
    SlaPolicy,
    WorkingCalendar,
    ladder,
    next_step,
    pause_clock,
    start_clock,
)

POLICY = SlaPolicy()


def wib(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=JAKARTA)


def test_follow_up_ladder_after_idul_fitri_2023(cal: WorkingCalendar) -> None:
    clock = start_clock(ClockKind.FOLLOW_UP, wib(2023, 4, 18, 10), POLICY, cal)
    # Due end of Wed 3 May; warning at the start of Wed 3 May; national after Thu 4, Fri 5,
    # Mon 8, Tue 9, Wed 10 May -> end of Wed 10 May.
    assert ladder(clock, POLICY, cal) == [
        (wib(2023, 5, 3), LadderStep.WARNING),
        (wib(2023, 5, 4), LadderStep.BREACH),
        (wib(2023, 5, 11), LadderStep.NATIONAL),
    ]


def test_follow_up_ladder_over_christmas_2023(cal: WorkingCalendar) -> None:
    # Forwarded Wed 20 Dec 2023: Thu 21, Fri 22, (25, 26 off) Wed 27, Thu 28, Fri 29.
    clock = start_clock(ClockKind.FOLLOW_UP, wib(2023, 12, 20, 10), POLICY, cal)
    assert clock.due_at == wib(2023, 12, 30)
    # National: (1 Jan off) Tue 2, Wed 3, Thu 4, Fri 5, Mon 8 Jan 2024.
    assert ladder(clock, POLICY, cal) == [
        (wib(2023, 12, 29), LadderStep.WARNING),
        (wib(2023, 12, 30), LadderStep.BREACH),
        (wib(2024, 1, 9), LadderStep.NATIONAL),
    ]
    # Two working days of warning: start of Thu 28 Dec.
    two = SlaPolicy(warn_before_days=2, national_escalation_after_days=1)
    assert ladder(clock, two, cal) == [
        (wib(2023, 12, 28), LadderStep.WARNING),
        (wib(2023, 12, 30), LadderStep.BREACH),
        (wib(2024, 1, 3), LadderStep.NATIONAL),  # end of Tue 2 Jan
    ]


def test_verification_ladder_warning_skips_collective_leave(cal: WorkingCalendar) -> None:
    # Filed Mon 17 Apr 2023: Tue 18, Wed 26, Thu 27 -> due end of Thu 27 Apr.
    clock = start_clock(ClockKind.VERIFICATION, wib(2023, 4, 17, 10), POLICY, cal)
    three = SlaPolicy(warn_before_days=3)
    # 3 working days back from Thu 27 inclusive: 27, 26, (19-25 off) 18 -> start of Tue 18.
    # National: Fri 28 Apr, (1 May off) 2, 3, 4, 5 May -> end of Fri 5 May.
    assert ladder(clock, three, cal) == [
        (wib(2023, 4, 18), LadderStep.WARNING),
        (wib(2023, 4, 28), LadderStep.BREACH),
        (wib(2023, 5, 6), LadderStep.NATIONAL),
    ]


def test_auto_resolve_ladder(cal: WorkingCalendar) -> None:
    clock = start_clock(ClockKind.AUTO_RESOLVE, wib(2023, 4, 18, 10), POLICY, cal)
    assert ladder(clock, POLICY, cal) == [(wib(2023, 5, 11), LadderStep.AUTO_RESOLVE)]


def test_paused_clock_has_no_ladder(cal: WorkingCalendar) -> None:
    clock = start_clock(ClockKind.FOLLOW_UP, wib(2023, 4, 18, 10), POLICY, cal)
    paused = pause_clock(clock, wib(2023, 4, 26, 10), cal)
    assert ladder(paused, POLICY, cal) == []
    assert next_step(paused, wib(2023, 6, 1), set(), POLICY, cal) is None


def test_next_step(cal: WorkingCalendar) -> None:
    clock = start_clock(ClockKind.FOLLOW_UP, wib(2023, 4, 18, 10), POLICY, cal)
    assert next_step(clock, wib(2023, 4, 26), set(), POLICY, cal) == PendingStep(
        LadderStep.WARNING, wib(2023, 5, 3), ready=False
    )
    assert next_step(clock, wib(2023, 5, 3), set(), POLICY, cal) == PendingStep(
        LadderStep.WARNING, wib(2023, 5, 3), ready=True
    )
    assert next_step(clock, wib(2023, 5, 3, 12), {LadderStep.WARNING}, POLICY, cal) == (
        PendingStep(LadderStep.BREACH, wib(2023, 5, 4), ready=False)
    )
    # Catch-up after downtime: a missed WARNING comes first, already ready.
    step = next_step(clock, wib(2023, 5, 20), frozenset(), POLICY, cal)
    assert step is not None
    assert (step.step, step.ready) == (LadderStep.WARNING, True)
    done = {LadderStep.WARNING, LadderStep.BREACH}
    assert next_step(clock, wib(2023, 5, 11), done, POLICY, cal) == PendingStep(
        LadderStep.NATIONAL, wib(2023, 5, 11), ready=True
    )
    done.add(LadderStep.NATIONAL)
    assert next_step(clock, wib(2023, 5, 20), done, POLICY, cal) is None


def test_next_step_auto_resolve(cal: WorkingCalendar) -> None:
    clock = start_clock(ClockKind.AUTO_RESOLVE, wib(2023, 4, 18, 10), POLICY, cal)
    assert next_step(clock, wib(2023, 5, 11), set(), POLICY, cal) == PendingStep(
        LadderStep.AUTO_RESOLVE, wib(2023, 5, 11), ready=True
    )
    assert next_step(clock, wib(2023, 5, 11), {LadderStep.AUTO_RESOLVE}, POLICY, cal) is None


def test_next_step_rejects_naive(cal: WorkingCalendar) -> None:
    clock = start_clock(ClockKind.AUTO_RESOLVE, wib(2023, 4, 18, 10), POLICY, cal)
    with pytest.raises(ValueError, match="now"):
        next_step(clock, datetime(2023, 5, 11), set(), POLICY, cal)
