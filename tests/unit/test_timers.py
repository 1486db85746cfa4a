"""What the timer issues for each ladder step (no database, no application)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lapor_es import commands as c
from lapor_es.readmodels.deadlines import Deadline
from lapor_es.timers import TickReport, commands_for
from lapor_es.workflow import ClockKind, LadderStep

DUE = datetime(2025, 11, 10, 17, tzinfo=UTC)
AT = datetime(2025, 11, 12, 1, 30, tzinfo=UTC)


def deadline(clock: ClockKind = ClockKind.FOLLOW_UP, due: datetime | None = DUE) -> Deadline:
    return Deadline(
        complaint_id="3f1c1f4e-7f0e-5b7e-9c55-0c8f4c2c9d10",
        tracking_id="LAP-2025-0000001",
        clock=clock,
        started_at=datetime(2025, 11, 3, 3, tzinfo=UTC),
        due_at=due,
        paused_at=None if due else datetime(2025, 11, 4, tzinfo=UTC),
        remaining_days=None if due else 2,
        holder="KEMENKES.ITJEN",
        state="FORWARDED",
        version=4,
        last_event_at=datetime(2025, 11, 3, 4, tzinfo=UTC),
    )


def test_warning_names_the_clock_run_and_is_dated_when_the_timer_acts() -> None:
    [cmd] = commands_for(deadline(), LadderStep.WARNING, AT)
    assert isinstance(cmd, c.WarnSla)
    assert (cmd.clock, cmd.due_at, cmd.at, cmd.actor.role, cmd.actor.id) == (
        "follow_up",
        DUE,
        AT,
        "system",
        "sla-timer",
    )
    assert cmd.complaint == "3f1c1f4e-7f0e-5b7e-9c55-0c8f4c2c9d10"


def test_breach_is_breach_then_parent_escalation() -> None:
    cmds = commands_for(deadline(), LadderStep.BREACH, AT)
    assert [cmd.command for cmd in cmds] == ["breach_sla", "escalate"]
    assert isinstance(cmds[1], c.Escalate) and cmds[1].level == "parent"
    assert all(cmd.at == AT for cmd in cmds)


def test_national_step_escalates_to_the_national_desk() -> None:
    [cmd] = commands_for(deadline(), LadderStep.NATIONAL, AT, actor_id="timer-2")
    assert isinstance(cmd, c.Escalate)
    assert (cmd.level, cmd.clock, cmd.due_at, cmd.actor.id) == (
        "national",
        "follow_up",
        DUE,
        "timer-2",
    )


def test_auto_resolve_closes_with_mode_auto_closed() -> None:
    [cmd] = commands_for(deadline(ClockKind.AUTO_RESOLVE), LadderStep.AUTO_RESOLVE, AT)
    assert isinstance(cmd, c.Resolve)
    assert (cmd.mode, cmd.at) == ("auto_closed", AT)


def test_a_paused_clock_has_no_command() -> None:
    with pytest.raises(ValueError, match="paused"):
        commands_for(deadline(due=None), LadderStep.WARNING, AT)


def test_reports_add_up() -> None:
    a, b = TickReport(), TickReport()
    a.count("warn_sla")
    b.count("warn_sla")
    b.count("escalate")
    b.already, b.moved_on = 2, 1
    a.merge(b)
    assert a.as_dict() == {
        "recorded": {"escalate": 1, "warn_sla": 2},
        "already_recorded": 2,
        "moved_on": 1,
        "failed": 0,
    }
