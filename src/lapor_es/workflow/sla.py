"""SLA policy and pure SLA clock functions.

Every clock counts working days on a :class:`~lapor_es.workflow.calendar.WorkingCalendar` with the
deadline semantics of :meth:`WorkingCalendar.add_working_days` (the start day never counts; a
working day counts iff the clock is running at its 00:00 WIB).

Clock lifecycle (all functions return new values, nothing is mutated):

* ``start_clock`` on filing (VERIFICATION), on each forwarding (FOLLOW_UP) and on a final
  response (AUTO_RESOLVE). A clock **restarts on each forwarding** simply by calling
  ``start_clock(ClockKind.FOLLOW_UP, forwarded_at, policy, calendar)`` again and replacing the old
  clock: nothing carries over from the previous forwarding.
* ``pause_clock`` while the complaint is POSTPONED; ``remaining_days`` keeps the working days
  still to run, ``max(0, working_days_left(paused_at, due_at))``.
* ``resume_clock`` gives ``due_at = add_working_days(resumed_at, remaining_days)``, so working days
  whose start falls inside the pause are not counted.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum

from lapor_es.workflow.calendar import WorkingCalendar, ensure_aware, subtract_working_days

__all__ = [
    "ClockKind",
    "ClockStatus",
    "SlaClock",
    "SlaPolicy",
    "clock_status",
    "pause_clock",
    "resume_clock",
    "start_clock",
]


@dataclass(frozen=True)
class SlaPolicy:
    """SLA limits in working days (``reopen_window_days`` is in calendar days)."""

    verification_days: int = 3
    follow_up_days: int = 5
    auto_resolve_days: int = 10
    warn_before_days: int = 1
    national_escalation_after_days: int = 5
    reopen_window_days: int = 30

    def __post_init__(self) -> None:
        for name in (
            "verification_days",
            "follow_up_days",
            "auto_resolve_days",
            "warn_before_days",
            "national_escalation_after_days",
            "reopen_window_days",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
                raise ValueError(f"SlaPolicy.{name} must be a positive int, got {value!r}")

    def limit_for(self, kind: ClockKind) -> int:
        """Working-day limit of a clock of ``kind``."""
        if kind is ClockKind.VERIFICATION:
            return self.verification_days
        if kind is ClockKind.FOLLOW_UP:
            return self.follow_up_days
        return self.auto_resolve_days


class ClockKind(StrEnum):
    VERIFICATION = "verification"
    FOLLOW_UP = "follow_up"
    AUTO_RESOLVE = "auto_resolve"


@dataclass(frozen=True)
class SlaClock:
    """One SLA clock.

    Running: ``due_at`` set, ``paused_at`` None. Paused: ``due_at`` None, ``paused_at`` set and
    ``remaining_days`` the working days still to run on resume. While running,
    ``remaining_days`` holds the working days the current run was given (``limit_days`` after
    ``start_clock``, the remainder after ``resume_clock``).
    """

    kind: ClockKind
    started_at: datetime
    limit_days: int
    due_at: datetime | None
    paused_at: datetime | None
    remaining_days: int

    def __post_init__(self) -> None:
        ensure_aware(self.started_at, "started_at")
        if (self.due_at is None) == (self.paused_at is None):
            raise ValueError("exactly one of due_at (running) and paused_at (paused) must be set")
        if self.due_at is not None:
            ensure_aware(self.due_at, "due_at")
        if self.paused_at is not None:
            ensure_aware(self.paused_at, "paused_at")
        if self.limit_days < 0 or self.remaining_days < 0:
            raise ValueError("limit_days and remaining_days must be >= 0")

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


@dataclass(frozen=True)
class ClockStatus:
    """A clock seen at one instant.

    ``working_days_left`` is ``WorkingCalendar.working_days_left(now, due_at)`` while running and
    ``remaining_days`` while paused. ``overdue`` is ``now >= due_at`` (never while paused).
    ``warn_at`` is ``subtract_working_days(due_at, policy.warn_before_days)``, None while paused.
    """

    kind: ClockKind
    due_at: datetime | None
    paused: bool
    working_days_left: int
    overdue: bool
    warn_at: datetime | None


def start_clock(
    kind: ClockKind, at: datetime, policy: SlaPolicy, calendar: WorkingCalendar
) -> SlaClock:
    """Start (or restart) a clock of ``kind`` at ``at``: due after ``policy.limit_for(kind)``."""
    ensure_aware(at, "at")
    kind = ClockKind(kind)
    limit = policy.limit_for(kind)
    return SlaClock(
        kind=kind,
        started_at=at,
        limit_days=limit,
        due_at=calendar.add_working_days(at, limit),
        paused_at=None,
        remaining_days=limit,
    )


def pause_clock(clock: SlaClock, at: datetime, calendar: WorkingCalendar) -> SlaClock:
    """Pause a running clock at ``at``.

    ``remaining_days = max(0, working_days_left(at, due_at))``: the working day the pause happens
    on has already started running and counts as used; an overdue clock keeps 0 days.
    Raises ``ValueError`` if the clock is already paused.
    """
    ensure_aware(at, "at")
    if clock.due_at is None:
        raise ValueError("clock is already paused")
    remaining = max(0, calendar.working_days_left(at, clock.due_at))
    return replace(clock, due_at=None, paused_at=at, remaining_days=remaining)


def resume_clock(clock: SlaClock, at: datetime, calendar: WorkingCalendar) -> SlaClock:
    """Resume a paused clock at ``at``: ``due_at = add_working_days(at, remaining_days)``.

    Like a start, the resume day itself does not count. With ``remaining_days == 0`` the clock is
    due at the end of the resume day. Raises ``ValueError`` if the clock is running or ``at`` is
    before the pause.
    """
    ensure_aware(at, "at")
    if clock.paused_at is None:
        raise ValueError("clock is not paused")
    if at < clock.paused_at:
        raise ValueError("cannot resume a clock before it was paused")
    return replace(
        clock,
        due_at=calendar.add_working_days(at, clock.remaining_days),
        paused_at=None,
    )


def clock_status(
    clock: SlaClock,
    now: datetime,
    calendar: WorkingCalendar,
    *,
    policy: SlaPolicy | None = None,
) -> ClockStatus:
    """Status of ``clock`` at ``now`` (``policy`` defaults to ``SlaPolicy()`` for ``warn_at``)."""
    ensure_aware(now, "now")
    pol = policy if policy is not None else SlaPolicy()
    if clock.due_at is None:
        return ClockStatus(
            kind=clock.kind,
            due_at=None,
            paused=True,
            working_days_left=clock.remaining_days,
            overdue=False,
            warn_at=None,
        )
    return ClockStatus(
        kind=clock.kind,
        due_at=clock.due_at,
        paused=False,
        working_days_left=calendar.working_days_left(now, clock.due_at),
        overdue=now >= clock.due_at,
        warn_at=subtract_working_days(clock.due_at, pol.warn_before_days, calendar),
    )
