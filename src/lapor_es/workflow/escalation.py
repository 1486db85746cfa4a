"""The SLA escalation ladder of a clock.

For VERIFICATION and FOLLOW_UP clocks the ladder is, in order:

* ``WARNING`` at ``subtract_working_days(due_at, policy.warn_before_days)``: 00:00 WIB of the
  ``warn_before_days``-th working day counting back from the due day inclusive (default 1: the
  start of the last working day before the deadline, when only that day remains);
* ``BREACH`` at ``due_at`` (escalate to the parent agency);
* ``NATIONAL`` at ``add_working_days(due_at - 1µs, policy.national_escalation_after_days)``: the
  deadline extended by that many working days, i.e. the end of the ``n``-th working day after the
  due day (escalate to the national desk). ``- 1µs`` makes the count start after the due day,
  not after the calendar day following it (``due_at`` is 00:00 WIB of that next day).

For the AUTO_RESOLVE clock the ladder is just ``AUTO_RESOLVE`` at ``due_at``.
A paused clock has no ladder.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from lapor_es.workflow.calendar import WorkingCalendar, ensure_aware, subtract_working_days
from lapor_es.workflow.sla import ClockKind, SlaClock, SlaPolicy

__all__ = ["LadderStep", "PendingStep", "ladder", "next_step"]

_EPSILON = timedelta(microseconds=1)


class LadderStep(StrEnum):
    WARNING = "warning"
    BREACH = "breach"
    NATIONAL = "national"
    AUTO_RESOLVE = "auto_resolve"


@dataclass(frozen=True)
class PendingStep:
    """The next ladder step not yet done: ``step`` fires at ``at``; ``ready`` is ``at <= now``."""

    step: LadderStep
    at: datetime
    ready: bool


def ladder(
    clock: SlaClock, policy: SlaPolicy, calendar: WorkingCalendar
) -> list[tuple[datetime, LadderStep]]:
    """The ladder of ``clock`` as ``(when, step)`` pairs in strictly increasing time order."""
    due = clock.due_at
    if due is None:
        return []
    if clock.kind is ClockKind.AUTO_RESOLVE:
        return [(due, LadderStep.AUTO_RESOLVE)]
    warn_at = subtract_working_days(due, policy.warn_before_days, calendar)
    national_at = calendar.add_working_days(due - _EPSILON, policy.national_escalation_after_days)
    return [
        (warn_at, LadderStep.WARNING),
        (due, LadderStep.BREACH),
        (national_at, LadderStep.NATIONAL),
    ]


def next_step(
    clock: SlaClock,
    now: datetime,
    done: set[LadderStep] | frozenset[LadderStep],
    policy: SlaPolicy,
    calendar: WorkingCalendar,
) -> PendingStep | None:
    """The first step of ``ladder(clock, ...)`` not in ``done``, or None (paused / all done).

    Steps are taken in ladder order, so after downtime a caller that loops until ``ready`` is
    False fires the missed steps in order (e.g. WARNING then BREACH).
    """
    ensure_aware(now, "now")
    for at, step in ladder(clock, policy, calendar):
        if step not in done:
            return PendingStep(step=step, at=at, ready=at <= now)
    return None
