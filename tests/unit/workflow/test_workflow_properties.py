"""Hypothesis properties of the calendar, clocks and ladder over 2022-2026."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from lapor_es.workflow import (
    JAKARTA,
    ClockKind,
    LadderStep,
    SlaPolicy,
    WorkingCalendar,
    ladder,
    pause_clock,
    resume_clock,
    start_clock,
    subtract_working_days,
)

CAL = WorkingCalendar()  # module level: the per-year holiday cache stays warm
EPS = timedelta(microseconds=1)
FAST = settings(max_examples=150, deadline=None)

ZONES = [UTC, JAKARTA, ZoneInfo("America/New_York"), ZoneInfo("Asia/Tokyo")]

instants = st.datetimes(
    min_value=datetime(2022, 1, 1),
    max_value=datetime(2026, 6, 30),
    timezones=st.sampled_from(ZONES),
    allow_imaginary=False,  # a wall time skipped by a DST change is no instant at all
)
day_counts = st.integers(min_value=0, max_value=25)
kinds = st.sampled_from(list(ClockKind))
policies = st.builds(
    SlaPolicy,
    verification_days=st.integers(1, 10),
    follow_up_days=st.integers(1, 10),
    auto_resolve_days=st.integers(1, 15),
    warn_before_days=st.integers(1, 4),
    national_escalation_after_days=st.integers(1, 10),
)


@FAST
@given(instants, day_counts)
def test_add_and_between_are_consistent(start: datetime, n: int) -> None:
    due = CAL.add_working_days(start, n)
    assert CAL.working_days_between(start, due - EPS) == n
    assert CAL.working_days_between(due - EPS, start) == -n
    assert CAL.working_days_left(start, due) == n


@FAST
@given(instants, day_counts)
def test_more_days_give_a_later_deadline(start: datetime, n: int) -> None:
    assert CAL.add_working_days(start, n + 1) > CAL.add_working_days(start, n)


@FAST
@given(instants, instants, day_counts)
def test_later_start_never_gives_an_earlier_deadline(a: datetime, b: datetime, n: int) -> None:
    early, late = sorted((a, b))
    assert CAL.add_working_days(early, n) <= CAL.add_working_days(late, n)


@FAST
@given(instants, st.integers(min_value=1, max_value=25))
def test_deadline_ends_a_working_day(start: datetime, n: int) -> None:
    due = CAL.add_working_days(start, n)
    assert due.tzinfo is UTC
    local = due.astimezone(JAKARTA)
    assert (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
    last_day = (local - EPS).date()
    assert CAL.is_working_day(last_day)
    assert last_day > start.astimezone(JAKARTA).date()


@FAST
@given(instants, day_counts)
def test_zero_days_is_end_of_the_local_day(start: datetime, n: int) -> None:
    due = CAL.add_working_days(start, 0)
    local_start = start.astimezone(JAKARTA)
    assert due.astimezone(JAKARTA) == datetime.combine(
        local_start.date() + timedelta(days=1), datetime.min.time(), tzinfo=JAKARTA
    )
    # In UTC: aware arithmetic in the start's own zone adds wall-clock hours, which across a
    # DST change (America/New_York) are not 24 real hours.
    assert start < due <= start.astimezone(UTC) + timedelta(days=1)


@FAST
@given(instants, st.integers(min_value=1, max_value=10))
def test_subtract_inverts_add(start: datetime, k: int) -> None:
    due = CAL.add_working_days(start, 20)
    t = subtract_working_days(due, k, CAL)
    # From t on, k working days no longer fit before due; just before t they do.
    assert CAL.add_working_days(t, k) > due
    assert CAL.add_working_days(t - EPS, k) == due
    assert CAL.is_working_day(t.astimezone(JAKARTA).date())
    assert CAL.working_days_between(t, due - EPS) == k - 1


@FAST
@given(instants, st.integers(min_value=-5, max_value=30))
def test_working_days_left_never_skips(now: datetime, offset: int) -> None:
    due = CAL.add_working_days(now, 10)
    t = now + timedelta(days=offset)
    left_today = CAL.working_days_left(t, due)
    left_tomorrow = CAL.working_days_left(t + timedelta(days=1), due)
    tomorrow = (t + timedelta(days=1)).astimezone(JAKARTA).date()
    assert left_today - left_tomorrow == (1 if CAL.is_working_day(tomorrow) else 0)


@FAST
@given(
    kinds,
    policies,
    instants,
    st.integers(min_value=0, max_value=20 * 24 * 60),
    st.integers(min_value=0, max_value=40 * 24 * 60),
)
def test_pause_resume_preserves_remaining_working_days(
    kind: ClockKind, policy: SlaPolicy, start: datetime, pause_after: int, paused_for: int
) -> None:
    clock = start_clock(kind, start, policy, CAL)
    assert clock.due_at is not None
    paused_at = start + timedelta(minutes=pause_after)
    paused = pause_clock(clock, paused_at, CAL)
    resumed_at = paused_at + timedelta(minutes=paused_for)
    resumed = resume_clock(paused, resumed_at, CAL)
    assert resumed.due_at is not None
    # The working days after the resume are exactly the ones left at the pause.
    assert CAL.working_days_between(resumed_at, resumed.due_at - EPS) == paused.remaining_days
    assert resumed.due_at >= clock.due_at or paused_at >= clock.due_at
    if paused_at < clock.due_at:
        # Working days run before the pause + after the resume == the limit: time spent
        # paused is not counted.
        used = CAL.working_days_between(start, paused_at)
        assert used + paused.remaining_days == clock.limit_days
        # Pausing and resuming at the same instant changes nothing.
        assert resume_clock(paused, paused_at, CAL).due_at == clock.due_at
    else:
        # Paused when already overdue: nothing left, due at the end of the resume day.
        assert paused.remaining_days == 0


@FAST
@given(kinds, policies, instants)
def test_ladder_is_ordered(kind: ClockKind, policy: SlaPolicy, start: datetime) -> None:
    clock = start_clock(kind, start, policy, CAL)
    steps = ladder(clock, policy, CAL)
    times = [at for at, _ in steps]
    assert times == sorted(times)
    assert len(set(times)) == len(times)
    if kind is ClockKind.AUTO_RESOLVE:
        assert steps == [(clock.due_at, LadderStep.AUTO_RESOLVE)]
    else:
        assert [s for _, s in steps] == [
            LadderStep.WARNING,
            LadderStep.BREACH,
            LadderStep.NATIONAL,
        ]
        warn, breach, national = times
        assert warn < breach < national
        assert breach == clock.due_at
        assert CAL.working_days_between(breach - EPS, national - EPS) == (
            policy.national_escalation_after_days
        )
