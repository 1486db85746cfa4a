"""Execute a plan through LaporApp, day by day, in chronological order, in large batches.

Every step becomes an ordinary validated command (`parse_command`), run with
`LaporApp.handle_many`: one transaction per simulated day, or per `batch_size` commands.
A step can only be built once its complaint's tracking number (and its reporter's
pseudonym) are known, which the filing's outcome tells; a step whose complaint was filed
in the batch still being collected therefore closes that batch first.

Memory: a year's lives (863,483 steps) take about 400 MiB, so `simulate_streamed` (what
`lapor-es simulate` runs) builds each complaint's life when the simulated clock reaches its
filing and drops it after its last step; `simulate` builds the whole plan and returns it.
"""

from __future__ import annotations

import heapq
import time as clock
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from lapor_es.aggregates import DomainError
from lapor_es.application import LaporApp
from lapor_es.commands import Command, Outcome, parse_command
from lapor_es.directory import load_default_directory, read_rows
from lapor_es.simulation.plan import (
    DESK,
    REPORTER,
    SYSTEM,
    ComplaintPlan,
    DirectoryView,
    LazyPlan,
    PlanParams,
    SimulationPlan,
    Step,
    build_plan,
    draft_plan,
)
from lapor_es.workflow import JAKARTA

DESK_ACTOR = {"id": "admin.nasional", "role": "national_admin"}
SYSTEM_ACTOR = {"id": "sla-timer", "role": "system"}
MAX_REJECTIONS_KEPT = 20

Progress = Callable[[int, int], None]  # (complaints filed so far, total)


@dataclass
class RunReport:
    complaints: int = 0  # filed
    commands: int = 0
    batches: int = 0
    events: int = 0  # stored (notification log growth: complaints, reporters, sequences)
    seconds: float = 0.0
    rejected: Counter[str] = field(default_factory=Counter)
    rejections: list[str] = field(default_factory=list)  # the first few, for diagnosis
    tracking_ids: list[str] = field(default_factory=list)  # by plan index

    @property
    def commands_per_second(self) -> float:
        return self.commands / self.seconds if self.seconds else 0.0

    @property
    def complaints_per_second(self) -> float:
        return self.complaints / self.seconds if self.seconds else 0.0


def default_directory() -> DirectoryView:
    _, rows = read_rows(None)
    return DirectoryView.from_rows(rows)


def simulate(
    app: LaporApp,
    params: PlanParams,
    *,
    batch_size: int = 5_000,
    progress: Progress | None = None,
) -> tuple[SimulationPlan, RunReport]:
    """Load the default directory if needed, plan the cohort, run it."""
    load_default_directory(app)  # idempotent: an unchanged directory is a no-op
    plan = build_plan(params, default_directory(), app.calendar, now=app.now())
    return plan, execute(app, plan, batch_size=batch_size, progress=progress)


def simulate_streamed(
    app: LaporApp,
    params: PlanParams,
    *,
    batch_size: int = 5_000,
    progress: Progress | None = None,
) -> RunReport:
    """As `simulate`, the same commands in the same order, holding only the complaints in
    flight (bounded memory for a full year); the plan is not kept."""
    load_default_directory(app)
    plan = draft_plan(params, default_directory(), app.calendar, now=app.now())
    return execute(app, plan, batch_size=batch_size, progress=progress)


class Lives(Protocol):
    """A plan's complaints by index, filed in index order."""

    def __len__(self) -> int: ...
    def filed_at(self, index: int) -> datetime: ...
    def life(self, index: int) -> ComplaintPlan: ...


@dataclass(frozen=True)
class _Built:
    plan: SimulationPlan

    def __len__(self) -> int:
        return len(self.plan.complaints)

    def filed_at(self, index: int) -> datetime:
        return self.plan.complaints[index].filed_at

    def life(self, index: int) -> ComplaintPlan:
        return self.plan.complaints[index]


def steps_in_order(lives: Lives) -> Iterator[tuple[datetime, int, int, Step]]:
    """(time, complaint index, step number, step) of every step, ordered by the first three:
    what sorting all the plan's steps gives, holding only the complaints in flight.

    A heap holds the next step of each complaint in flight. A complaint's steps are in time
    order, its first at or after its filing, and complaints are filed in index order; so a
    life is only needed once the clock reaches its filing, and not after its last step.
    """
    heap: list[tuple[datetime, int, int]] = []
    in_flight: dict[int, ComplaintPlan] = {}
    upcoming, n = 0, len(lives)
    while heap or upcoming < n:
        while upcoming < n and (not heap or lives.filed_at(upcoming) <= heap[0][0]):
            in_flight[upcoming] = life = lives.life(upcoming)
            heapq.heappush(heap, (life.steps[0].at, upcoming, 0))
            upcoming += 1
        at, index, k = heapq.heappop(heap)
        steps = in_flight[index].steps
        yield at, index, k, steps[k]
        if k + 1 < len(steps):
            heapq.heappush(heap, (steps[k + 1].at, index, k + 1))
        else:
            del in_flight[index]


def execute(
    app: LaporApp,
    plan: SimulationPlan | LazyPlan,
    *,
    batch_size: int = 5_000,
    progress: Progress | None = None,
) -> RunReport:
    report = RunReport()
    started = clock.perf_counter()
    before = app.recorder.max_notification_id() or 0
    lives: Lives = _Built(plan) if isinstance(plan, SimulationPlan) else plan
    n = len(lives)
    tracking: list[str | None] = [None] * n
    reporter_refs: list[str | None] = [None] * n
    pending: list[Command] = []
    pending_keys: list[tuple[int, int]] = []
    filing_now: set[int] = set()
    day: object = None

    def flush() -> None:
        if not pending:
            return
        results = app.handle_many(pending)
        report.batches += 1
        report.commands += len(pending)
        for (index, k), command, result in zip(pending_keys, pending, results, strict=True):
            if isinstance(result, DomainError):
                report.rejected[result.code] += 1
                if len(report.rejections) < MAX_REJECTIONS_KEPT:
                    report.rejections.append(
                        f"complaint #{index} step {k} {command.command}: {result.code}: {result}"
                    )
            elif command.command == "file":
                assert isinstance(result, Outcome)
                tracking[index] = result.tracking_id
                reporter_refs[index] = result.reporter_ref
                report.complaints += 1
        pending.clear()
        pending_keys.clear()
        filing_now.clear()
        if progress is not None:
            progress(report.complaints, n)

    for at, index, k, step in steps_in_order(lives):
        today = at.astimezone(JAKARTA).date()
        refers = {index} if step.command != "file" else set()
        if step.into is not None:
            refers.add(step.into)
        if today != day or len(pending) >= batch_size or refers & filing_now:
            flush()
            day = today
        if step.command == "file":
            filing_now.add(index)
        elif tracking[index] is None:
            # Its filing was refused: nothing to act on (already counted as rejected).
            report.rejected["skipped_unfiled"] += 1
            continue
        pending.append(_command(step, at, tracking, reporter_refs, index))
        pending_keys.append((index, k))
    flush()
    report.seconds = clock.perf_counter() - started
    report.events = (app.recorder.max_notification_id() or 0) - before
    report.tracking_ids = [t or "" for t in tracking]
    return report


def _actor(step: Step, reporter_ref: str | None) -> dict[str, str]:
    if step.actor == DESK:
        return DESK_ACTOR
    if step.actor == SYSTEM:
        return SYSTEM_ACTOR
    if step.actor == REPORTER:
        # At filing the app derives the pseudonym itself; afterwards it must be named.
        return {"id": reporter_ref or "citizen", "role": "reporter"}
    return {"id": f"admin.{step.actor.lower()}", "role": "agency_admin", "agency": step.actor}


def _command(
    step: Step,
    at: datetime,
    tracking: list[str | None],
    reporter_refs: list[str | None],
    index: int,
) -> Command:
    data: dict[str, Any] = {
        "command": step.command,
        "actor": _actor(step, reporter_refs[index]),
        "at": at,
    }
    if step.command != "file":
        data["complaint"] = tracking[index]
    if step.into is not None:
        data["into"] = tracking[step.into]
    data.update({k: v for k, v in step.fields.items() if v is not None})
    return parse_command(data)
