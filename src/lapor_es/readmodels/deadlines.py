"""The deadlines read model: every running SLA clock and the next ladder step it owes.

`sla_deadlines` has one row per complaint whose clock exists: the clock (verification,
follow_up or auto_resolve), when it started and is due, who holds the complaint, which rungs
of the ladder are already recorded for this clock run, and the next step with its time,
computed with the ladder when the event is projected. The SLA timer only has to ask
``next_at <= now ORDER BY next_at``; it never replays a complaint to decide what to do.

Row lifecycle (mirrors the aggregate's `apply` methods, from the published events only):

* a clock start or restart (filing, forwarding, decline back to the desk, supplement,
  final or interim response, dispute, reply-window comment, reopen) replaces the row: the
  steps done are cleared, because the ladder's marks are per clock run and due time;
* a postponement keeps the row with ``due_at`` NULL, ``paused_at`` and ``remaining_days``
  set and no next step. Kept rather than deleted so the table shows every clock that will
  run again, and so an operator can see what the desk is waiting on; the timer never
  selects it (``next_at`` is NULL);
* resolution, archive and merge (and an interim response that carries no new deadline)
  delete the row: no clock runs;
* a row whose ladder is complete (national escalation recorded) stays, with ``next_step``
  NULL, until the clock stops or restarts: the complaint is still overdue.

The holder chain is needed to name the holder when a clock restarts after a resolution
(reopen), so it is kept per complaint in `sla_holder_chains`, which outlives the deadline row.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cached_property
from typing import Any, ClassVar, Generic, TypeVar

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    DateTime,
    Delete,
    Insert,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Update,
    bindparam,
    delete,
    insert,
    select,
    update,
)

from lapor_es.aggregates.values import ComplaintState
from lapor_es.contract import payloads as p
from lapor_es.projections.bulk import execute_many
from lapor_es.projections.core import Failure, ReadModel, by_complaint, failure, rows_of
from lapor_es.projections.events import ProjectedEvent
from lapor_es.readmodels.lifecycle import chain_after as shared_chain_after
from lapor_es.readmodels.lifecycle import clock_after, state_after
from lapor_es.readmodels.timestamps import as_utc
from lapor_es.workflow import (
    ClockKind,
    LadderStep,
    SlaClock,
    SlaPolicy,
    WorkingCalendar,
    next_step,
)

__all__ = [
    "CHAIN_SEPARATOR",
    "Deadline",
    "DeadlinesModel",
    "chain_after",
    "evolve",
]

S = ComplaintState

# The holder chain is kept as agency codes joined by this (codes never contain it).
CHAIN_SEPARATOR = ">"


def _aware(value: datetime | None) -> datetime:
    out = as_utc(value)
    if out is None:
        raise ValueError("a required timestamp is missing")
    return out


@dataclass(frozen=True)
class Deadline:
    """One complaint's clock as the timer sees it (a row of `sla_deadlines`)."""

    complaint_id: str
    tracking_id: str
    clock: ClockKind
    started_at: datetime
    due_at: datetime | None  # None while paused
    paused_at: datetime | None
    remaining_days: int | None  # working days left while paused
    holder: str | None
    state: str  # the complaint's workflow state
    version: int  # last complaint version projected
    last_event_at: datetime  # the timer never dates a command before this
    warned: bool = False
    breached: bool = False
    escalated_parent: bool = False
    escalated_national: bool = False

    @property
    def paused(self) -> bool:
        return self.due_at is None

    @property
    def done(self) -> frozenset[LadderStep]:
        """Ladder steps already recorded for this clock run.

        BREACH is one step of two commands (breach, then escalation to the parent): it is
        done only when both are recorded, so a timer that died between them finishes it.
        """
        steps: set[LadderStep] = set()
        if self.warned:
            steps.add(LadderStep.WARNING)
        if self.breached and self.escalated_parent:
            steps.add(LadderStep.BREACH)
        if self.escalated_national:
            steps.add(LadderStep.NATIONAL)
        return frozenset(steps)

    def pending(self, policy: SlaPolicy, calendar: WorkingCalendar) -> tuple[LadderStep, datetime]:
        """The next step still owed and when it is due; raises LookupError if none is."""
        if self.due_at is None:
            raise LookupError("a paused clock has no ladder")
        clock = SlaClock(
            kind=self.clock,
            started_at=self.started_at,
            limit_days=policy.limit_for(self.clock),
            due_at=self.due_at,
            paused_at=None,
            remaining_days=policy.limit_for(self.clock),
        )
        found = next_step(clock, self.last_event_at, self.done, policy, calendar)
        if found is None:
            raise LookupError("every step of this clock's ladder is recorded")
        return found.step, found.at

    def next(
        self, policy: SlaPolicy, calendar: WorkingCalendar
    ) -> tuple[LadderStep | None, datetime | None]:
        try:
            return self.pending(policy, calendar)
        except LookupError:
            return None, None


def chain_after(chain: Sequence[str], payload: p.EventPayload) -> list[str]:
    """The holder chain after `payload` (the one rule every consumer shares, see
    readmodels/lifecycle.py); an event that does not fit the chain is refused, so the
    projector parks it instead of escalating to the wrong agency."""
    return list(shared_chain_after(tuple(chain), payload))


def _start(
    payload: p.EventPayload, kind: ClockKind, due_at: datetime, state: str, holder: str | None
) -> Deadline:
    at = payload.at.astimezone(UTC)
    return Deadline(
        complaint_id=payload.complaint_id,
        tracking_id=payload.tracking_id,
        clock=kind,
        started_at=at,
        due_at=due_at.astimezone(UTC),
        paused_at=None,
        remaining_days=None,
        holder=holder,
        state=state,
        version=payload.version,
        last_event_at=at,
    )


def _rung(current: Deadline | None, payload: p.SlaWarned | p.SlaBreached | p.Escalated) -> bool:
    """A rung counts only for the clock run it names (the engine refuses any other)."""
    return (
        current is not None
        and current.clock == payload.clock
        and current.due_at == payload.due_at.astimezone(UTC)
    )


def evolve(
    current: Deadline | None, payload: p.EventPayload, holder: str | None
) -> Deadline | None:
    """The deadline after `payload`; None when no clock exists. `holder` is the holder after
    the event (the last element of `chain_after`). Pure: the read model's whole logic.

    Which clock runs, and when it starts, restarts, pauses or stops, is the shared clock
    rule (`lifecycle.clock_after`), as the complaint's state is `lifecycle.state_after`;
    what is added here is the ladder's rungs recorded for the current run."""
    before = None if current is None else S(current.state)
    clock = clock_after(
        None if current is None else current.clock,
        None if current is None else current.due_at,
        payload,
    )
    if clock.kind is None:
        return None
    if clock.started:
        assert clock.due_at is not None  # a run starts only with its due time
        state = state_after(before, payload)
        return _start(payload, clock.kind, clock.due_at, state, holder)
    if current is None:
        return None
    at = payload.at.astimezone(UTC)
    moved = replace(
        current,
        version=payload.version,
        last_event_at=at,
        holder=holder,
        state=state_after(before, payload),
        due_at=clock.due_at,
    )
    match payload:
        case p.Postponed(remaining_days=left):
            return replace(moved, paused_at=at, remaining_days=left)
        case p.SlaWarned() if _rung(current, payload):
            return replace(moved, warned=True)
        case p.SlaBreached() if _rung(current, payload):
            return replace(moved, breached=True)
        case p.Escalated(level="parent") if _rung(current, payload):
            return replace(moved, escalated_parent=True)
        case p.Escalated(level="national") if _rung(current, payload):
            return replace(moved, escalated_national=True)
    return moved


def _needs_chain(payload: p.EventPayload, current: Deadline | None) -> bool:
    """Read the stored chain only when the holder can change or a row is (re)created."""
    return current is None or isinstance(payload, p.Forwarded | p.ForwardingDeclined)


class DeadlinesModel(ReadModel):
    name: ClassVar[str] = "deadlines"

    def __init__(
        self,
        *,
        calendar: WorkingCalendar,
        policy: SlaPolicy,
        prefix: str = "",
        table_metadata: MetaData | None = None,
    ) -> None:
        self.calendar = calendar
        # The ladder's warn/national offsets are settings: pass the configured policy (the
        # same LAPOR_SLA_* values the engine reads), so next_at agrees with what the engine
        # will accept.
        self.policy = policy
        super().__init__(prefix=prefix, table_metadata=table_metadata)

    @classmethod
    def table_names(cls) -> Sequence[str]:
        return ("sla_deadlines", "sla_holder_chains")

    def define(self, md: MetaData, prefix: str) -> None:
        ts = DateTime(timezone=True)
        Table(
            prefix + "sla_deadlines",
            md,
            Column("complaint_id", String(36), primary_key=True),
            Column("tracking_id", String(32), nullable=False),
            Column("clock", String(16), nullable=False, comment="verification|follow_up|..."),
            Column("started_at", ts, nullable=False, comment="start or restart of this run"),
            Column("due_at", ts, comment="NULL while paused (POSTPONED)"),
            Column("paused_at", ts),
            Column("remaining_days", Integer, comment="working days left while paused"),
            Column("holder", String(64), comment="NULL at the national desk"),
            Column("state", String(16), nullable=False, comment="the complaint's state"),
            Column("warned", Boolean, nullable=False),
            Column("breached", Boolean, nullable=False),
            Column("escalated_parent", Boolean, nullable=False),
            Column("escalated_national", Boolean, nullable=False),
            Column("next_step", String(16), comment="warning|breach|national|auto_resolve"),
            Column("next_at", ts, index=True, comment="when next_step is due; NULL: none"),
            Column("version", Integer, nullable=False, comment="last complaint version seen"),
            Column("last_event_at", ts, nullable=False),
            keep_existing=True,
        )
        Table(
            prefix + "sla_holder_chains",
            md,
            Column("complaint_id", String(36), primary_key=True),
            Column("holder_chain", String(400), nullable=False, comment="agency>unit>..."),
            keep_existing=True,
        )

    @property
    def deadlines(self) -> Table:
        return self.table("sla_deadlines")

    @property
    def chains(self) -> Table:
        return self.table("sla_holder_chains")

    # ------------------------------------------------------------------ rows
    def to_row(self, d: Deadline) -> dict[str, Any]:
        step, at = d.next(self.policy, self.calendar)
        return {
            "complaint_id": d.complaint_id,
            "tracking_id": d.tracking_id,
            "clock": d.clock.value,
            "started_at": d.started_at,
            "due_at": d.due_at,
            "paused_at": d.paused_at,
            "remaining_days": d.remaining_days,
            "holder": d.holder,
            "state": str(d.state),
            "warned": d.warned,
            "breached": d.breached,
            "escalated_parent": d.escalated_parent,
            "escalated_national": d.escalated_national,
            "next_step": step.value if step else None,
            "next_at": at,
            "version": d.version,
            "last_event_at": d.last_event_at,
        }

    @staticmethod
    def from_row(row: Any) -> Deadline:
        return Deadline(
            complaint_id=row["complaint_id"],
            tracking_id=row["tracking_id"],
            clock=ClockKind(row["clock"]),
            started_at=_aware(row["started_at"]),
            due_at=as_utc(row["due_at"]),
            paused_at=as_utc(row["paused_at"]),
            remaining_days=row["remaining_days"],
            holder=row["holder"],
            state=row["state"],
            version=row["version"],
            last_event_at=_aware(row["last_event_at"]),
            warned=bool(row["warned"]),
            breached=bool(row["breached"]),
            escalated_parent=bool(row["escalated_parent"]),
            escalated_national=bool(row["escalated_national"]),
        )

    # ------------------------------------------------------------------ statements
    # Built once per model and executed with parameter dicts: a fresh select()/update() per
    # event made SQLAlchemy coerce every value and recompute the cache key, which dominated
    # projection time. INSERT/UPDATE take their columns from the parameter keys.
    @cached_property
    def _select_deadline(self) -> Select[Any]:
        t = self.deadlines
        return select(t).where(t.c.complaint_id == bindparam("b_complaint_id"))

    @cached_property
    def _insert_deadline(self) -> Insert:
        return insert(self.deadlines)

    @cached_property
    def _update_deadline(self) -> Update:
        t = self.deadlines
        return update(t).where(t.c.complaint_id == bindparam("b_complaint_id"))

    @cached_property
    def _delete_deadline(self) -> Delete:
        t = self.deadlines
        return delete(t).where(t.c.complaint_id == bindparam("b_complaint_id"))

    @cached_property
    def _select_chain(self) -> Select[tuple[str]]:
        t = self.chains
        return select(t.c.holder_chain).where(t.c.complaint_id == bindparam("b_complaint_id"))

    @cached_property
    def _insert_chain(self) -> Insert:
        return insert(self.chains)

    @cached_property
    def _update_chain_stmt(self) -> Update:
        t = self.chains
        return update(t).where(t.c.complaint_id == bindparam("b_complaint_id"))

    @cached_property
    def _delete_chain(self) -> Delete:
        t = self.chains
        return delete(t).where(t.c.complaint_id == bindparam("b_complaint_id"))

    def get(self, conn: Connection, complaint_id: str) -> Deadline | None:
        row = (
            conn.execute(self._select_deadline, {"b_complaint_id": complaint_id})
            .mappings()
            .one_or_none()
        )
        return None if row is None else self.from_row(row)

    # ------------------------------------------------------------------ apply
    def apply(self, conn: Connection, event: ProjectedEvent) -> None:
        payload = event.payload
        cid = event.complaint_id
        key = {"b_complaint_id": cid}
        current = None if isinstance(payload, p.Filed) else self.get(conn, cid)
        holder = current.holder if current else None
        if _needs_chain(payload, current):
            holder = self._update_chain(conn, payload)
        after = evolve(current, payload, holder)
        if after is None:
            if current is not None:
                conn.execute(self._delete_deadline, key)
        elif current is None:
            conn.execute(self._insert_deadline, self.to_row(after))
        else:
            conn.execute(self._update_deadline, self.to_row(after) | key)
        if isinstance(payload, p.Archived | p.Merged):
            conn.execute(self._delete_chain, key)

    def _update_chain(self, conn: Connection, payload: p.EventPayload) -> str | None:
        """Apply the event to the stored chain; returns the holder after it."""
        if isinstance(payload, p.Filed):
            return None  # nothing is stored before the first forwarding
        key = {"b_complaint_id": payload.complaint_id}
        text = conn.execute(self._select_chain, key).scalar()
        before = text.split(CHAIN_SEPARATOR) if text else []
        after = chain_after(before, payload)
        if after != before:
            value = CHAIN_SEPARATOR.join(after)
            if text is None:
                conn.execute(
                    self._insert_chain,
                    {"complaint_id": payload.complaint_id, "holder_chain": value},
                )
            else:
                conn.execute(self._update_chain_stmt, {"holder_chain": value} | key)
        return after[-1] if after else None

    # ------------------------------------------------------------------ the batch path
    def apply_batch(self, conn: Connection, events: Sequence[ProjectedEvent]) -> list[Failure]:
        """The set-based path: the batch's deadline and chain rows in one read each, the
        events folded in memory by `step` (the rules `apply` follows, event by event), and
        the differences written with one executemany per kind of statement."""
        groups = by_complaint(events)
        deadlines = {
            row["complaint_id"]: self.from_row(row) for row in rows_of(conn, self.deadlines, groups)
        }
        chains = {
            row["complaint_id"]: row["holder_chain"] for row in rows_of(conn, self.chains, groups)
        }
        failures: list[Failure] = []
        writes = _Writes()
        for cid, complaint_events in groups.items():
            deadline, chain = deadlines.get(cid), chains.get(cid)
            for ev in complaint_events:
                try:
                    deadline, chain = step(deadline, chain, ev.payload)
                except Exception as exc:  # parked by the engine; earlier events stay
                    failures.append(failure(ev, exc))
                    break
            writes.deadlines.record(cid, deadlines.get(cid), deadline, self.to_row)
            writes.chains.record(cid, chains.get(cid), chain, _chain_row(cid))
        writes.run(conn, self)
        return failures


def step(
    current: Deadline | None, chain: str | None, payload: p.EventPayload
) -> tuple[Deadline | None, str | None]:
    """One event on a complaint's deadline and stored chain (None: no row), as `apply`
    writes it: the chain is read only where the holder can change or a row is made."""
    if isinstance(payload, p.Filed):
        current = None
    holder = current.holder if current else None
    if _needs_chain(payload, current) and not isinstance(payload, p.Filed):
        before = chain.split(CHAIN_SEPARATOR) if chain else []
        after = chain_after(before, payload)
        if after != before:
            chain = CHAIN_SEPARATOR.join(after)
        holder = after[-1] if after else None
    elif isinstance(payload, p.Filed):
        holder = None
    deadline = evolve(current, payload, holder)
    if isinstance(payload, p.Archived | p.Merged):
        chain = None
    return deadline, chain


T = TypeVar("T")  # what a complaint's row is folded from: a Deadline, a holder chain


def _chain_row(cid: str) -> Callable[[str], dict[str, Any]]:
    return lambda holder_chain: {"complaint_id": cid, "holder_chain": holder_chain}


@dataclass
class _RowWrites(Generic[T]):
    """One row per complaint in one table: deleted, inserted or updated as the complaint's
    folded value went from `before` to `after` (None: no row)."""

    deletes: list[dict[str, Any]] = field(default_factory=list)
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)

    def record(
        self, cid: str, before: T | None, after: T | None, to_row: Callable[[T], dict[str, Any]]
    ) -> None:
        key = {"b_complaint_id": cid}
        if after is None:
            if before is not None:
                self.deletes.append(key)
        elif before is None:
            self.inserts.append(to_row(after))
        elif after != before:
            self.updates.append(to_row(after) | key)


@dataclass
class _Writes:
    """The statements that bring a batch's rows from what was read to what was folded."""

    deadlines: _RowWrites[Deadline] = field(default_factory=_RowWrites)
    chains: _RowWrites[str] = field(default_factory=_RowWrites)

    def run(self, conn: Connection, model: DeadlinesModel) -> None:
        for stmt, params in (
            (model._delete_deadline, self.deadlines.deletes),
            (model._insert_deadline, self.deadlines.inserts),
            (model._update_deadline, self.deadlines.updates),
            (model._delete_chain, self.chains.deletes),
            (model._insert_chain, self.chains.inserts),
            (model._update_chain_stmt, self.chains.updates),
        ):
            execute_many(conn, stmt, params)
