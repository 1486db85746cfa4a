"""The SLA timer service: turns due ladder steps of the deadlines read model into commands.

One pass (`run_until(now)`):

1. catch the deadlines projection up with the store (in-process), or trust an external
   projector (the Kafka consumer group) to keep it current;
2. select the rows whose ``next_at <= now``, oldest first, and issue each one's step as a
   `system` command into LaporApp: WARNING -> `warn_sla`; BREACH -> `breach_sla` then
   `escalate parent`; NATIONAL -> `escalate national`; AUTO_RESOLVE -> `resolve auto_closed`;
3. catch up again and repeat until nothing more is due, so missed steps of one clock fire
   in ladder order within the same pass (after downtime: warning, breach, parent, national).

Dating: every command is dated ``max(now, the complaint's last event)``: the time the timer
actually acted, never back-dated to when the step should have happened. The history then says
truthfully that a warning was recorded late after an outage, and time never rewinds on a
complaint. Ladder order still holds because the steps of one clock are issued in order and the
engine checks `breach_sla`/`auto_closed` against the due time (``now >= next_at >= due``).

Idempotency rests on the engine, not on this service: each rung is recorded at most once per
clock run (`already_recorded` is a success here), `escalate` needs the breach first, and
`auto_closed` needs a complaint still RESPONDED past its current window. So a timer that is
restarted, runs twice, or races another timer never records a step twice. A refusal with
`invalid_transition` or `rule_violation` means the row was stale (the complaint moved on,
e.g. the agency answered a moment ago): the projection is caught up and the loop goes on.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import structlog
from sqlalchemy import Engine, func, select
from sqlalchemy.exc import OperationalError

from lapor_es import commands as c
from lapor_es import observability
from lapor_es.aggregates import AlreadyRecorded, DomainError, InvalidTransition, RuleViolation
from lapor_es.aggregates.values import EscalationLevel, ResolutionMode, Role
from lapor_es.application import LaporApp, utc_now
from lapor_es.projections.core import Projector
from lapor_es.projections.runners import LocalRunner
from lapor_es.readmodels.deadlines import Deadline, DeadlinesModel
from lapor_es.readmodels.timestamps import as_utc
from lapor_es.workflow import LadderStep

__all__ = ["TickReport", "TimerService", "commands_for"]

log = structlog.get_logger("lapor_es.sla_timer")

TIMER_ACTOR = "sla-timer"
LadderCommand = c.WarnSla | c.BreachSla | c.Escalate | c.Resolve
# How often a busy SQLite projection is retried before the pass gives up until next time.
_LOCK_RETRIES = 20


def commands_for(
    deadline: Deadline, step: LadderStep, at: datetime, actor_id: str = TIMER_ACTOR
) -> list[LadderCommand]:
    """The commands that record `step` for `deadline`, in order, dated `at`."""
    if deadline.due_at is None:
        raise ValueError("a paused clock has no ladder step")
    due = deadline.due_at.isoformat()
    common: dict[str, object] = {
        "actor": {"id": actor_id, "role": Role.SYSTEM.value},
        "complaint": deadline.complaint_id,
        "at": at.isoformat(),
    }
    rung = common | {"clock": deadline.clock.value, "due_at": due}
    if step is LadderStep.WARNING:
        return [c.WarnSla.model_validate(rung | {"command": "warn_sla"})]
    if step is LadderStep.BREACH:
        return [
            c.BreachSla.model_validate(rung | {"command": "breach_sla"}),
            c.Escalate.model_validate(
                rung | {"command": "escalate", "level": EscalationLevel.PARENT.value}
            ),
        ]
    if step is LadderStep.NATIONAL:
        return [
            c.Escalate.model_validate(
                rung | {"command": "escalate", "level": EscalationLevel.NATIONAL.value}
            )
        ]
    return [
        c.Resolve.model_validate(
            common
            | {
                "command": "resolve",
                "mode": ResolutionMode.AUTO_CLOSED.value,
                "note": f"no reply from the reporter by {due}",
            }
        )
    ]


@dataclass
class TickReport:
    """What a pass (or a run of passes) did, counted per command outcome."""

    recorded: dict[str, int] = field(default_factory=dict)  # command -> newly recorded
    already: int = 0  # already_recorded: another timer (or an earlier run) did it
    moved_on: int = 0  # refused on a stale row: the complaint changed meanwhile
    failed: int = 0  # unexpected errors, logged; retried on the next pass

    def count(self, command: str) -> None:
        self.recorded[command] = self.recorded.get(command, 0) + 1

    def merge(self, other: TickReport) -> None:
        for command, n in other.recorded.items():
            self.recorded[command] = self.recorded.get(command, 0) + n
        self.already += other.already
        self.moved_on += other.moved_on
        self.failed += other.failed

    def as_dict(self) -> dict[str, object]:
        return {
            "recorded": dict(sorted(self.recorded.items())),
            "already_recorded": self.already,
            "moved_on": self.moved_on,
            "failed": self.failed,
        }


class TimerService:
    """Issues due SLA ladder steps. `clock` is injectable: a drill or a test runs a year of
    deadlines by calling `run_until` with successive instants (which must not be in the real
    future: the engine refuses commands dated more than 5 minutes ahead)."""

    def __init__(
        self,
        app: LaporApp,
        engine: Engine,
        *,
        clock: Callable[[], datetime] = utc_now,
        model: DeadlinesModel | None = None,
        in_process: bool = True,
        batch_size: int = 200,
        poll_interval: float = 60.0,
        wake_interval: float = 1.0,
        actor_id: str = TIMER_ACTOR,
    ) -> None:
        self.app = app
        self.engine = engine
        self.clock = clock
        self.model = model or DeadlinesModel(calendar=app.calendar, policy=app.policy)
        self.projector = Projector(engine, [self.model])
        # Without in-process projection an external projector (Kafka consumer group) must
        # feed the table; the service then only reads it.
        self.runner = LocalRunner(app.recorder, app.mapper, self.projector) if in_process else None
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.wake_interval = wake_interval
        self.actor_id = actor_id
        self.stop = threading.Event()

    # ------------------------------------------------------------------ projection
    def catch_up(self) -> None:
        """Bring the deadlines table up to the store's head (in-process mode only)."""
        if self.runner is None:
            return
        for attempt in range(_LOCK_RETRIES):
            try:
                self.runner.run(follow=False)
                return
            except OperationalError as exc:
                # SQLite: another timer's projection holds the write lock. Its batch is
                # the same events; retry after it, the claims make ours a no-op.
                if "locked" not in str(exc) or attempt == _LOCK_RETRIES - 1:
                    raise
                time.sleep(0.05 * (attempt + 1))

    def head(self) -> int:
        return self.app.recorder.max_notification_id() or 0

    # ------------------------------------------------------------------ queries
    def due(self, now: datetime, limit: int) -> list[Deadline]:
        t = self.model.deadlines
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(t)
                    .where(t.c.next_at <= now.astimezone(UTC))
                    .order_by(t.c.next_at, t.c.complaint_id)
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        return [DeadlinesModel.from_row(r) for r in rows]

    def next_due(self) -> datetime | None:
        """When the earliest pending step is due (None: nothing is pending)."""
        t = self.model.deadlines
        with self.engine.connect() as conn:
            return as_utc(conn.execute(select(func.min(t.c.next_at))).scalar())

    # ------------------------------------------------------------------ passes
    def run_until(self, now: datetime) -> TickReport:
        """Fire every step due at or before `now` (missed ones in ladder order), dated now."""
        report = TickReport()
        attempted: set[tuple[str, int, LadderStep]] = set()
        self.catch_up()
        while not self.stop.is_set():
            # Rows already tried in this pass are skipped (a stale row with an external
            # projector would otherwise be retried forever); fetch past them.
            rows = self.due(now, self.batch_size + len(attempted))
            fresh = []
            for d in rows:
                step, _ = d.next(self.model.policy, self.model.calendar)
                if step is None:
                    continue
                key = (d.complaint_id, d.version, step)
                if key not in attempted:
                    attempted.add(key)
                    fresh.append((d, step))
            if not fresh:
                break
            for deadline, step in fresh[: self.batch_size]:
                self._fire(deadline, step, now, report)
            self.catch_up()
        return report

    def run_once(self) -> TickReport:
        return self.run_until(self.clock())

    def run(self, *, follow: bool = False) -> TickReport:
        """One pass, or (follow) passes until stopped: each waits for the next due time,
        the poll interval, or new events in the store, whichever comes first."""
        total = TickReport()
        while not self.stop.is_set():
            if not follow:
                total.merge(self.run_once())
                break
            try:
                report = self.run_once()
                total.merge(report)
                observability.current().retried(report.failed)
            except Exception:  # e.g. the database is briefly down: a service keeps going
                total.failed += 1
                observability.current().retried()
                log.exception("sla_timer.pass_failed")
            self._wait()
        return total

    def _wait(self) -> None:
        budget = self.poll_interval
        nxt = self.next_due()
        if nxt is not None:
            seconds = (nxt - self.clock()).total_seconds()
            # Still due after a pass: a step that failed or a stale row; retry soon, not busily.
            budget = min(budget, seconds if seconds > 0 else self.wake_interval)
        head = self.head()
        until = time.monotonic() + budget
        while not self.stop.is_set():
            left = until - time.monotonic()
            if left <= 0:
                return
            if self.stop.wait(min(self.wake_interval, left)):
                return
            if self.head() != head:
                return  # new events may start, stop or move a clock: look now

    # ------------------------------------------------------------------ one step
    def _fire(
        self, deadline: Deadline, step: LadderStep, now: datetime, report: TickReport
    ) -> None:
        at = max(now.astimezone(UTC), deadline.last_event_at)
        context = {
            "complaint_id": deadline.complaint_id,
            "tracking_id": deadline.tracking_id,
            "clock": deadline.clock.value,
            "due_at": deadline.due_at.isoformat() if deadline.due_at else None,
            "step": step.value,
            "at": at.isoformat(),
        }
        for command in commands_for(deadline, step, at, self.actor_id):
            try:
                self.app.handle(command)
            except AlreadyRecorded:
                report.already += 1
                log.info("sla_timer.already_recorded", command=command.command, **context)
                continue
            except (InvalidTransition, RuleViolation) as exc:
                report.moved_on += 1
                log.info(
                    "sla_timer.moved_on",
                    command=command.command,
                    code=exc.code,
                    reason=exc.message,
                    **context,
                )
                return  # the rest of this step depends on the refused command
            except DomainError as exc:  # e.g. conflict: too busy; next pass retries
                report.failed += 1
                log.warning("sla_timer.refused", command=command.command, code=exc.code, **context)
                return
            except Exception:  # keep the timer alive; the step stays due and is retried
                report.failed += 1
                log.exception("sla_timer.failed", command=command.command, **context)
                return
            report.count(command.command)
            log.info("sla_timer.recorded", command=command.command, **context)
