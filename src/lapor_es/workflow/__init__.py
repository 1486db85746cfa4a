"""Pure workflow rules: the Indonesian working-day calendar, SLA clocks, the escalation ladder
and the verification target (the reporter's chosen agency by default).

No I/O; imports nothing else from ``lapor_es``.
"""

from lapor_es.workflow.calendar import (
    JAKARTA,
    WorkingCalendar,
    ensure_aware,
    subtract_working_days,
)
from lapor_es.workflow.escalation import LadderStep, PendingStep, ladder, next_step
from lapor_es.workflow.sla import (
    ClockKind,
    ClockStatus,
    SlaClock,
    SlaPolicy,
    clock_status,
    pause_clock,
    resume_clock,
    start_clock,
)
from lapor_es.workflow.targeting import Targeting, verification_target

__all__ = [
    "JAKARTA",
    "ClockKind",
    "ClockStatus",
    "LadderStep",
    "PendingStep",
    "SlaClock",
    "SlaPolicy",
    "Targeting",
    "WorkingCalendar",
    "clock_status",
    "ensure_aware",
    "ladder",
    "next_step",
    "pause_clock",
    "resume_clock",
    "start_clock",
    "subtract_working_days",
    "verification_target",
]
