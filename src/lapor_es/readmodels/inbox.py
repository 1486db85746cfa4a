"""The agency inbox read model: what each agency (and unit) holds now, and its counters.

Tables (documented column by column in docs/data-dictionary.md):
- `agency_inbox`: one row per (agency, complaint) for every agency on the complaint's current
  holder chain while the complaint is FORWARDED, IN_PROGRESS or RESPONDED. The holder has
  `held_directly`; the agencies above it that passed it down see it too (a parent sees its
  units' work).
- `agency_complaints`: one row per (agency, complaint) for every agency that was ever on the
  chain, with the complaint's current state and whether the agency still holds it; the
  view `v_agency_buckets` counts them in the six LAPOR! buckets.
- `inbox_complaints`: the per-complaint memory `apply` needs between events (the chain is not
  in any single event).

"Working days left" depends on the moment of looking, so it is computed by `inbox_rows` at
query time from the stored due time, never stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    DateTime,
    Delete,
    Index,
    Insert,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    Update,
    bindparam,
    delete,
    insert,
    select,
    text,
    update,
)

from lapor_es.projections.bulk import execute_many
from lapor_es.projections.core import Failure, ReadModel, by_complaint, failure, rows_of
from lapor_es.projections.core import metadata as live_metadata
from lapor_es.projections.events import ProjectedEvent
from lapor_es.readmodels.inbox_state import InboxState, advance, reporter_display
from lapor_es.readmodels.lifecycle import bucket
from lapor_es.readmodels.timestamps import as_utc
from lapor_es.workflow import WorkingCalendar

INBOX = "agency_inbox"
AGENCY_COMPLAINTS = "agency_complaints"
HELPER = "inbox_complaints"
BUCKETS_VIEW = "v_agency_buckets"

# Every agency_complaints row counts in exactly one column. While the agency holds the
# complaint (it, or a unit below it, is on the holder chain) the complaint can only be in the
# three "Terdisposisi" buckets. Once it lost it, a complaint back with the national desk
# (declined by the top-level agency) counts in the desk's buckets as the desk moves it on
# (Belum Terverifikasi, Tertunda, Arsip); one that went on to another agency, or back up to
# the parent after a unit declined, counts as passed_on.
BUCKET_COLUMNS: tuple[tuple[str, str], ...] = (
    ("belum_terverifikasi", "NOT held AND state = 'SUBMITTED'"),
    ("laporan_tertunda", "NOT held AND state = 'POSTPONED'"),
    ("terdisposisi_belum_ditindaklanjuti", "held AND state = 'FORWARDED'"),
    ("terdisposisi_sedang_diproses", "held AND state IN ('IN_PROGRESS', 'RESPONDED')"),
    ("terdisposisi_selesai", "held AND state = 'RESOLVED'"),
    ("laporan_arsip", "NOT held AND state = 'ARCHIVED'"),
    ("passed_on", "NOT held AND state NOT IN ('SUBMITTED', 'POSTPONED', 'ARCHIVED')"),
)


def define_tables(md: MetaData, prefix: str = "") -> dict[str, Table]:
    """The model's tables in `md` (existing ones are reused: keep_existing)."""
    helper = Table(
        prefix + HELPER,
        md,
        Column("complaint_id", String(36), primary_key=True),
        Column("tracking_id", String(32), nullable=False),
        Column("version", Integer, nullable=False, comment="last event applied"),
        Column("filed_at", DateTime(timezone=True), nullable=False),
        Column("title", Text, nullable=False),
        Column("kind", String(32), nullable=False),
        Column("category", String(200)),
        Column("channel", String(16), nullable=False),
        Column("visibility", String(16), nullable=False),
        Column("state", String(16), nullable=False),
        Column("chain", JSON, nullable=False, comment="holder chain, top-level agency first"),
        Column("holdings", JSON, nullable=False, comment="every agency ever on the chain"),
        Column("clock", String(16)),
        Column("due_at", DateTime(timezone=True)),
        Column("last_action", String(40), nullable=False),
        Column("last_action_at", DateTime(timezone=True), nullable=False),
        Column("last_actor_role", String(20), nullable=False),
        Column("reopen_count", Integer, nullable=False),
        Column("reply_pending", Boolean, nullable=False),
        Column("erased", Boolean, nullable=False),
        keep_existing=True,
    )
    inbox = Table(
        prefix + INBOX,
        md,
        Column("agency", String(80), primary_key=True),
        Column("complaint_id", String(36), primary_key=True),
        Column("held_directly", Boolean, nullable=False),
        Column("holder", String(80), nullable=False),
        Column("tracking_id", String(32), nullable=False),
        Column("title", Text, nullable=False),
        Column("kind", String(32), nullable=False),
        Column("category", String(200)),
        Column("channel", String(16), nullable=False),
        Column("visibility", String(16), nullable=False),
        Column("reporter_display", Text, nullable=False),
        Column("state", String(16), nullable=False),
        Column("bucket", String(64), nullable=False),
        Column("forwarding_path", Text, nullable=False),
        Column("clock", String(16)),
        Column("due_at", DateTime(timezone=True)),
        Column("last_action", String(40), nullable=False),
        Column("last_action_at", DateTime(timezone=True), nullable=False),
        Column("last_actor_role", String(20), nullable=False),
        Column("reopen_count", Integer, nullable=False),
        Column("reply_pending", Boolean, nullable=False),
        Column("filed_at", DateTime(timezone=True), nullable=False),
        Index(f"ix_{prefix}{INBOX}_complaint", "complaint_id"),
        Index(f"ix_{prefix}{INBOX}_agency_due", "agency", "due_at"),
        keep_existing=True,
    )
    complaints = Table(
        prefix + AGENCY_COMPLAINTS,
        md,
        Column("agency", String(80), primary_key=True),
        Column("complaint_id", String(36), primary_key=True),
        Column("tracking_id", String(32), nullable=False),
        Column("state", String(16), nullable=False),
        Column("bucket", String(64), nullable=False),
        Column("held", Boolean, nullable=False),
        Column("held_directly", Boolean, nullable=False),
        Column("first_held_at", DateTime(timezone=True), nullable=False),
        Column("released_at", DateTime(timezone=True)),
        Index(f"ix_{prefix}{AGENCY_COMPLAINTS}_complaint", "complaint_id"),
        keep_existing=True,
    )
    return {HELPER: helper, INBOX: inbox, AGENCY_COMPLAINTS: complaints}


def buckets_query(prefix: str = "", *, where: str = "") -> str:
    sums = ",\n  ".join(
        f"SUM(CASE WHEN {cond} THEN 1 ELSE 0 END) AS {name}" for name, cond in BUCKET_COLUMNS
    )
    return (
        f"SELECT agency,\n  {sums},\n  COUNT(*) AS total\n"
        f"FROM {prefix}{AGENCY_COMPLAINTS}{where}\nGROUP BY agency"
    )


class InboxModel(ReadModel):
    name = "inbox"

    def __init__(
        self,
        *,
        calendar: WorkingCalendar,
        prefix: str = "",
        table_metadata: MetaData | None = None,
    ) -> None:
        self.calendar = calendar
        self._row_updates: dict[str, Update] = {}
        super().__init__(prefix=prefix, table_metadata=table_metadata)

    @classmethod
    def table_names(cls) -> Sequence[str]:
        return (HELPER, INBOX, AGENCY_COMPLAINTS)

    def define(self, md: MetaData, prefix: str) -> None:
        define_tables(md, prefix)

    def views(self) -> list[tuple[str, str]]:
        return [(self.prefix + BUCKETS_VIEW, buckets_query(self.prefix))]

    # Statements are built once per model and executed with parameter dicts: building a
    # fresh select()/insert()/update() per event made SQLAlchemy coerce every value and
    # recompute the cache key each time, which dominated projection time.
    @cached_property
    def _select_helper(self) -> Select[Any]:
        helper = self.table(HELPER)
        return select(helper).where(helper.c.complaint_id == bindparam("b_complaint_id"))

    @cached_property
    def _insert_helper(self) -> Insert:
        return insert(self.table(HELPER))

    @cached_property
    def _update_helper(self) -> Update:
        helper = self.table(HELPER)
        return update(helper).where(helper.c.complaint_id == bindparam("b_complaint_id"))

    @cached_property
    def _delete_inbox(self) -> Delete:
        inbox = self.table(INBOX)
        return delete(inbox).where(inbox.c.complaint_id == bindparam("b_complaint_id"))

    @cached_property
    def _delete_complaints(self) -> Delete:
        complaints = self.table(AGENCY_COMPLAINTS)
        return delete(complaints).where(complaints.c.complaint_id == bindparam("b_complaint_id"))

    @cached_property
    def _insert_inbox(self) -> Insert:
        return insert(self.table(INBOX))

    @cached_property
    def _insert_complaints(self) -> Insert:
        return insert(self.table(AGENCY_COMPLAINTS))

    def _update_row(self, name: str) -> Update:
        """UPDATE of one (agency, complaint) row of `name`; SET columns from the keys."""
        cached: Update | None = self._row_updates.get(name)
        if cached is None:
            t = self.table(name)
            cached = update(t).where(
                t.c.agency == bindparam("b_agency"),
                t.c.complaint_id == bindparam("b_complaint_id"),
            )
            self._row_updates[name] = cached
        return cached

    def apply(self, conn: Connection, event: ProjectedEvent) -> None:
        key = {"b_complaint_id": event.complaint_id}
        row = conn.execute(self._select_helper, key).mappings().first()
        current = InboxState.from_record(row) if row is not None else None
        if current is not None and event.version <= current.version:
            return  # already reflected: applying an event twice changes nothing
        state = advance(current, event.payload)
        record = state.to_record()
        if row is None:
            conn.execute(self._insert_helper, record)
        else:
            conn.execute(self._update_helper, record | key)
        self._write_rows(conn, current, state)

    def _write_rows(self, conn: Connection, before: InboxState | None, state: InboxState) -> None:
        """Bring the complaint's rows from what `before` produced to what `state` produces.

        The rows on disk are exactly those `before` produced (they are only ever written
        here, from the helper row), so nothing is read back: rows are compared in memory.
        Same agencies: only the columns that changed are updated (often none, for
        `agency_complaints`). Otherwise the complaint's rows are replaced: simpler and safer
        than patching a chain diff.
        """
        old_inbox = _inbox_rows(before) if before is not None else []
        old_complaints = _complaint_rows(before) if before is not None else []
        self._sync(conn, INBOX, state.complaint_id, old_inbox, _inbox_rows(state))
        self._sync(
            conn, AGENCY_COMPLAINTS, state.complaint_id, old_complaints, _complaint_rows(state)
        )

    def _sync(
        self,
        conn: Connection,
        name: str,
        complaint_id: str,
        old: list[dict[str, Any]],
        new: list[dict[str, Any]],
    ) -> None:
        if old == new:
            return
        if [r["agency"] for r in old] == [r["agency"] for r in new]:
            for was, now in zip(old, new, strict=True):
                changed = {k: v for k, v in now.items() if was[k] != v}
                if changed:
                    changed |= {"b_agency": now["agency"], "b_complaint_id": complaint_id}
                    conn.execute(self._update_row(name), changed)
            return
        key = {"b_complaint_id": complaint_id}
        if old:
            conn.execute(self._delete_inbox if name == INBOX else self._delete_complaints, key)
        if new:
            conn.execute(self._insert_inbox if name == INBOX else self._insert_complaints, new)

    # ------------------------------------------------------------------ the batch path
    def apply_batch(self, conn: Connection, events: Sequence[ProjectedEvent]) -> list[Failure]:
        """The set-based path: the helper rows of the batch's complaints in one read, the
        events folded in memory with `advance` (the same rule `apply` steps with), and the
        three tables written with one executemany per kind of statement."""
        groups = by_complaint(events)
        loaded = {
            row["complaint_id"]: InboxState.from_record(row)
            for row in rows_of(conn, self.table(HELPER), groups)
        }
        failures: list[Failure] = []
        writes = _BatchWrites()
        for complaint_id, complaint_events in groups.items():
            before = loaded.get(complaint_id)
            state = before
            for ev in complaint_events:
                if state is not None and ev.version <= state.version:
                    continue  # already reflected, as in `apply`
                try:
                    state = advance(state, ev.payload)
                except Exception as exc:  # parked by the engine; earlier events stay
                    failures.append(failure(ev, exc))
                    break
            if state is not None and state is not before:
                writes.add(before, state)
        self._write_batch(conn, writes)
        return failures

    def _write_batch(self, conn: Connection, writes: _BatchWrites) -> None:
        execute_many(conn, self._insert_helper, writes.helper_inserts)
        execute_many(conn, self._update_helper, writes.helper_updates)
        tables = (
            (INBOX, writes.inbox, self._delete_inbox, self._insert_inbox),
            (
                AGENCY_COMPLAINTS,
                writes.complaints,
                self._delete_complaints,
                self._insert_complaints,
            ),
        )
        for name, table_writes, delete_rows, insert_rows in tables:
            execute_many(conn, delete_rows, table_writes.deletes)
            execute_many(conn, insert_rows, table_writes.inserts)
            execute_many(conn, self._update_row(name), table_writes.updates)


@dataclass
class _RowWrites:
    """Bulk writes to one of the per-agency tables, as `_sync` would make them one by one:
    rows of the same agencies are updated (whole rows, so every parameter set has the same
    keys and one executemany takes them all); otherwise the complaint's rows are replaced."""

    deletes: list[dict[str, Any]] = field(default_factory=list)
    inserts: list[dict[str, Any]] = field(default_factory=list)
    updates: list[dict[str, Any]] = field(default_factory=list)

    def sync(self, complaint_id: str, old: list[dict[str, Any]], new: list[dict[str, Any]]) -> None:
        if old == new:
            return
        if [r["agency"] for r in old] == [r["agency"] for r in new]:
            for was, now in zip(old, new, strict=True):
                if was != now:
                    changed = {k: v for k, v in now.items() if k not in ("agency", "complaint_id")}
                    self.updates.append(
                        changed | {"b_agency": now["agency"], "b_complaint_id": complaint_id}
                    )
            return
        if old:
            self.deletes.append({"b_complaint_id": complaint_id})
        self.inserts.extend(new)


@dataclass
class _BatchWrites:
    helper_inserts: list[dict[str, Any]] = field(default_factory=list)
    helper_updates: list[dict[str, Any]] = field(default_factory=list)
    inbox: _RowWrites = field(default_factory=_RowWrites)
    complaints: _RowWrites = field(default_factory=_RowWrites)

    def add(self, before: InboxState | None, state: InboxState) -> None:
        """The writes that bring one complaint's rows from `before` to `state`."""
        record = state.to_record()
        if before is None:
            self.helper_inserts.append(record)
        else:
            self.helper_updates.append(record | {"b_complaint_id": state.complaint_id})
        cid = state.complaint_id
        self.inbox.sync(cid, _inbox_rows(before) if before else [], _inbox_rows(state))
        self.complaints.sync(cid, _complaint_rows(before) if before else [], _complaint_rows(state))


def _inbox_rows(state: InboxState) -> list[dict[str, Any]]:
    return [_inbox_row(state, a, d) for a, d in state.inbox_agencies()]


def _complaint_rows(state: InboxState) -> list[dict[str, Any]]:
    return [
        {
            "agency": h.agency,
            "complaint_id": state.complaint_id,
            "tracking_id": state.tracking_id,
            "state": str(state.state),
            "bucket": bucket(state.state),
            "held": h.released_at is None,
            "held_directly": h.agency == state.holder,
            "first_held_at": h.first_at,
            "released_at": h.released_at,
        }
        for h in state.holdings
    ]


def _inbox_row(state: InboxState, agency: str, held_directly: bool) -> dict[str, Any]:
    return {
        "agency": agency,
        "complaint_id": state.complaint_id,
        "held_directly": held_directly,
        "holder": state.holder,
        "tracking_id": state.tracking_id,
        "title": state.title,
        "kind": state.kind,
        "category": state.category,
        "channel": state.channel,
        "visibility": state.visibility,
        "reporter_display": reporter_display(
            state.visibility, erased=state.erased, tracking_id=state.tracking_id, agency=agency
        ),
        "state": str(state.state),
        "bucket": bucket(state.state),
        "forwarding_path": state.forwarding_path,
        "clock": state.clock,
        "due_at": state.due_at,
        "last_action": state.last_action,
        "last_action_at": state.last_action_at,
        "last_actor_role": state.last_actor_role,
        "reopen_count": state.reopen_count,
        "reply_pending": state.reply_pending,
        "filed_at": state.filed_at,
    }


# ---------------------------------------------------------------------------- queries
@dataclass(frozen=True)
class InboxRow:
    """One complaint in an agency's inbox, with its clock as seen at `now`."""

    agency: str
    tracking_id: str
    complaint_id: str
    held_directly: bool
    holder: str
    title: str
    kind: str
    category: str | None
    channel: str
    visibility: str
    reporter_display: str
    state: str
    bucket: str
    forwarding_path: str
    clock: str | None
    due_at: datetime | None
    working_days_left: int | None  # negative: that many working days overdue
    overdue: bool  # now >= due_at
    last_action: str
    last_action_at: datetime
    last_actor_role: str
    reopen_count: int
    reply_pending: bool
    filed_at: datetime


@dataclass(frozen=True)
class AgencyBuckets:
    agency: str
    belum_terverifikasi: int = 0
    laporan_tertunda: int = 0
    terdisposisi_belum_ditindaklanjuti: int = 0
    terdisposisi_sedang_diproses: int = 0
    terdisposisi_selesai: int = 0
    laporan_arsip: int = 0
    passed_on: int = 0
    total: int = 0


def inbox_rows(
    conn: Connection,
    agency: str,
    *,
    include_units: bool,
    now: datetime,
    calendar: WorkingCalendar,
    state: str | None = None,
    prefix: str = "",
) -> list[InboxRow]:
    """The agency's inbox, most urgent first (earliest due time; no clock last).

    `include_units`: also what its units (and their units) hold; otherwise only what the
    agency holds itself.
    """
    inbox = define_tables(live_metadata if not prefix else MetaData(), prefix)[INBOX]
    query = select(inbox).where(inbox.c.agency == agency)
    if not include_units:
        query = query.where(inbox.c.held_directly.is_(True))
    if state is not None:
        query = query.where(inbox.c.state == state)
    rows = []
    for r in conn.execute(query).mappings():
        due = as_utc(r["due_at"]) if r["due_at"] is not None else None
        rows.append(
            InboxRow(
                agency=r["agency"],
                tracking_id=r["tracking_id"],
                complaint_id=r["complaint_id"],
                held_directly=bool(r["held_directly"]),
                holder=r["holder"],
                title=r["title"],
                kind=r["kind"],
                category=r["category"],
                channel=r["channel"],
                visibility=r["visibility"],
                reporter_display=r["reporter_display"],
                state=r["state"],
                bucket=r["bucket"],
                forwarding_path=r["forwarding_path"],
                clock=r["clock"],
                due_at=due,
                working_days_left=calendar.working_days_left(now, due) if due else None,
                overdue=due is not None and now >= due,
                last_action=r["last_action"],
                last_action_at=as_utc(r["last_action_at"]),
                last_actor_role=r["last_actor_role"],
                reopen_count=r["reopen_count"],
                reply_pending=bool(r["reply_pending"]),
                filed_at=as_utc(r["filed_at"]),
            )
        )
    far = datetime.max.replace(tzinfo=now.tzinfo)
    return sorted(rows, key=lambda r: (r.due_at or far, r.tracking_id))


def bucket_counts(conn: Connection, agency: str, *, prefix: str = "") -> AgencyBuckets:
    """The agency's row of v_agency_buckets (all zeros if it never held a complaint).

    Runs the view's own query, so it works before the view exists too."""
    query = text(buckets_query(prefix, where=" WHERE agency = :agency"))
    row = conn.execute(query, {"agency": agency}).mappings().first()
    if row is None:
        return AgencyBuckets(agency)
    counts = {k: int(v) for k, v in row.items() if k != "agency"}
    return AgencyBuckets(agency, **counts)
