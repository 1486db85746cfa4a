"""The public tracking page of a complaint: one plain-language line per event.

Tables (documented in docs/data-dictionary.md):
- `complaint_timeline`: one row per (complaint, version): when, what, which role, which
  agency, a short Indonesian sentence that never carries identity or free text, and the
  event's public text (a response, a reply, ...: aggregates.disclosure), if it has one.
- `timeline_complaints`: one row per complaint with its CURRENT visibility, so the public page
  of a confidential complaint is refused, including one made confidential after the fact.

The page is rendered for its readers when it is read (`timeline_for`): times in WIB, each
agency's name beside its code, and the texts only where aggregates.disclosure allows them
(none for a confidential complaint, none of an erased reporter's own words), so a change of
visibility, an erasure or an agency's new name applies to pages already projected.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Insert,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Text,
    Update,
    bindparam,
    func,
    insert,
    select,
    update,
)

from lapor_es.aggregates import DomainError, NotAuthorized
from lapor_es.aggregates.disclosure import shows_text
from lapor_es.aggregates.values import ComplaintState, Role, Visibility
from lapor_es.contract.payloads import AnyPayload, Filed, Verified, VisibilityChanged
from lapor_es.projections.bulk import execute_many
from lapor_es.projections.core import Failure, ReadModel, by_complaint, failure, rows_of
from lapor_es.projections.core import metadata as live_metadata
from lapor_es.projections.events import ProjectedEvent
from lapor_es.readmodels.lifecycle import bucket, state_after
from lapor_es.readmodels.timeline_text import (
    event_agency,
    public_text,
    summarize,
    with_agency_names,
)
from lapor_es.readmodels.timestamps import as_utc
from lapor_es.workflow import JAKARTA, WorkingCalendar

ENTRIES = "complaint_timeline"
COMPLAINTS = "timeline_complaints"


class TimelineNotFound(DomainError):
    code = "not_found"


def define_tables(md: MetaData, prefix: str = "") -> dict[str, Table]:
    entries = Table(
        prefix + ENTRIES,
        md,
        Column("complaint_id", String(36), primary_key=True),
        Column("version", Integer, primary_key=True),
        Column("tracking_id", String(32), nullable=False, index=True),
        Column("at", DateTime(timezone=True), nullable=False),
        Column("event_type", String(40), nullable=False),
        Column("actor_role", String(20), nullable=False),
        Column("agency", String(80)),
        Column("summary", Text, nullable=False),
        Column("text", Text, comment="the event's public text (aggregates.disclosure)"),
        keep_existing=True,
    )
    complaints = Table(
        prefix + COMPLAINTS,
        md,
        Column("complaint_id", String(36), primary_key=True),
        Column("tracking_id", String(32), nullable=False, unique=True),
        Column("version", Integer, nullable=False),
        Column("visibility", String(16), nullable=False),
        Column("title", Text, nullable=False),
        Column("state", String(16), nullable=False),
        Column("filed_at", DateTime(timezone=True), nullable=False),
        Column("updated_at", DateTime(timezone=True), nullable=False),
        keep_existing=True,
    )
    return {ENTRIES: entries, COMPLAINTS: complaints}


class TimelineModel(ReadModel):
    name = "timeline"

    def __init__(
        self,
        *,
        calendar: WorkingCalendar,
        prefix: str = "",
        table_metadata: MetaData | None = None,
    ) -> None:
        self.calendar = calendar  # uniform constructor (registry); the timeline needs none
        super().__init__(prefix=prefix, table_metadata=table_metadata)

    @classmethod
    def table_names(cls) -> Sequence[str]:
        return (ENTRIES, COMPLAINTS)

    def define(self, md: MetaData, prefix: str) -> None:
        define_tables(md, prefix)

    # Statements are built once per model and executed with parameter dicts: building a
    # fresh select()/insert()/update() per event made SQLAlchemy coerce the values and
    # recompute the cache key every time, which dominated projection time. The INSERT and
    # UPDATE take their column lists from the parameter keys (one compiled form per key set).
    @cached_property
    def _head(self) -> Select[tuple[int, str]]:
        complaints = self.table(COMPLAINTS)
        return select(complaints.c.version, complaints.c.state).where(
            complaints.c.complaint_id == bindparam("b_complaint_id")
        )

    @cached_property
    def _insert_entry(self) -> Insert:
        return insert(self.table(ENTRIES))

    @cached_property
    def _insert_complaint(self) -> Insert:
        return insert(self.table(COMPLAINTS))

    @cached_property
    def _update_complaint(self) -> Update:
        """Move the complaint's head row to the event, only if it is newer (else 0 rows).

        `b_state` is NULL for events that leave the state alone (COALESCE keeps it), so the
        common event needs no read of the head row first."""
        complaints = self.table(COMPLAINTS)
        return (
            update(complaints)
            .where(
                complaints.c.complaint_id == bindparam("b_complaint_id"),
                complaints.c.version < bindparam("b_version", type_=Integer),
            )
            .values(state=func.coalesce(bindparam("b_state", type_=String), complaints.c.state))
        )

    def apply(self, conn: Connection, event: ProjectedEvent) -> None:
        p = event.payload
        if isinstance(p, Filed):
            self._filed(conn, p)
            return
        changes: dict[str, object] = {
            "b_complaint_id": p.complaint_id,
            "b_version": p.version,
            "b_state": _state_set_by(p),
            "version": p.version,
            "updated_at": p.at,
        }
        if isinstance(p, Verified):
            changes |= {"title": p.title, "visibility": p.visibility}
        elif isinstance(p, VisibilityChanged):
            changes["visibility"] = p.new
        if conn.execute(self._update_complaint, changes).rowcount == 0:
            if conn.execute(self._head, {"b_complaint_id": p.complaint_id}).first() is None:
                raise ValueError(f"{p.type} (version {p.version}) before the complaint's Filed")
            return  # already on the page: applying an event twice changes nothing
        self._add_entry(conn, p)

    def _filed(self, conn: Connection, p: Filed) -> None:
        if conn.execute(self._head, {"b_complaint_id": p.complaint_id}).first() is not None:
            return  # already on the page: applying an event twice changes nothing
        self._add_entry(conn, p)
        conn.execute(self._insert_complaint, _head_after(None, p))

    def _add_entry(self, conn: Connection, p: AnyPayload) -> None:
        conn.execute(self._insert_entry, _entry(p))

    # ------------------------------------------------------------------ the batch path
    @cached_property
    def _update_head(self) -> Update:
        complaints = self.table(COMPLAINTS)
        return update(complaints).where(complaints.c.complaint_id == bindparam("b_complaint_id"))

    def apply_batch(self, conn: Connection, events: Sequence[ProjectedEvent]) -> list[Failure]:
        """The set-based path: the head rows of the batch's complaints in one read, the
        events folded in memory by `_head_after` (the rules of `apply`), then one
        executemany each for new heads, moved heads and the new entries."""
        groups = by_complaint(events)
        heads = {
            row["complaint_id"]: dict(row) for row in rows_of(conn, self.table(COMPLAINTS), groups)
        }
        failures: list[Failure] = []
        inserts: list[dict[str, Any]] = []
        updates: list[dict[str, Any]] = []
        entries: list[dict[str, Any]] = []
        for cid, complaint_events in groups.items():
            before = heads.get(cid)
            head = before
            for ev in complaint_events:
                try:
                    moved = _head_after(head, ev.payload)
                except Exception as exc:  # parked by the engine; earlier events stay
                    failures.append(failure(ev, exc))
                    break
                if moved is not head:
                    head = moved
                    entries.append(_entry(ev.payload))
            if head is not before and head is not None:
                if before is None:
                    inserts.append(head)
                else:
                    updates.append(head | {"b_complaint_id": cid})
        execute_many(conn, self._insert_complaint, inserts)
        execute_many(conn, self._update_head, updates)
        execute_many(conn, self._insert_entry, entries)
        return failures


def _head_after(head: dict[str, Any] | None, p: AnyPayload) -> dict[str, Any] | None:
    """The complaint's head row once `p` is on the page; `head` itself when the event
    changes nothing (already on the page). Raises before the complaint's Filed."""
    if isinstance(p, Filed):
        if head is not None:
            return head
        return {
            "complaint_id": p.complaint_id,
            "tracking_id": p.tracking_id,
            "version": p.version,
            "visibility": p.visibility,
            "title": p.title,
            "state": str(ComplaintState.SUBMITTED),
            "filed_at": p.at,
            "updated_at": p.at,
        }
    if head is None:
        raise ValueError(f"{p.type} (version {p.version}) before the complaint's Filed")
    if head["version"] >= p.version:
        return head
    moved = head | {"version": p.version, "updated_at": p.at}
    state = _state_set_by(p)
    if state is not None:
        moved["state"] = state
    if isinstance(p, Verified):
        moved |= {"title": p.title, "visibility": p.visibility}
    elif isinstance(p, VisibilityChanged):
        moved["visibility"] = p.new
    return moved


def _entry(p: AnyPayload) -> dict[str, Any]:
    """The complaint_timeline row of one event."""
    return {
        "complaint_id": p.complaint_id,
        "version": p.version,
        "tracking_id": p.tracking_id,
        "at": p.at,
        "event_type": p.type,
        "actor_role": p.role,
        "agency": event_agency(p),
        "summary": summarize(p),
        "text": public_text(p),
    }


def _state_set_by(p: AnyPayload) -> str | None:
    """The state `p` puts the complaint in, or None if it keeps the previous one."""
    try:
        return str(state_after(None, p))
    except ValueError:  # state_after needs the previous state: the event keeps it
        return None


AgencyNames = Callable[[str], str | None]  # an agency code -> its name (None: unknown)


def _no_names(_code: str) -> str | None:
    return None


@dataclass(frozen=True)
class TimelineEntry:
    version: int
    at: datetime  # in WIB (Asia/Jakarta)
    event_type: str
    actor_role: str
    agency: str | None
    agency_name: str | None
    summary: str
    text: str | None  # the public text, where aggregates.disclosure allows it


@dataclass(frozen=True)
class Timeline:
    tracking_id: str
    complaint_id: str
    title: str
    visibility: str
    state: str
    bucket: str
    filed_at: datetime  # in WIB
    entries: list[TimelineEntry]


def timeline_for(
    conn: Connection,
    tracking_id: str,
    *,
    public: bool,
    agency_names: AgencyNames = _no_names,
    prefix: str = "",
) -> Timeline:
    """The tracking page. `public`: refused (not_authorized) while the complaint is
    confidential; staff (public=False) always see it, without its texts while it is
    confidential. Unknown ids raise not_found. `agency_names` names the agencies."""
    tables = define_tables(live_metadata if not prefix else MetaData(), prefix)
    entries, complaints = tables[ENTRIES], tables[COMPLAINTS]
    head = (
        conn.execute(select(complaints).where(complaints.c.tracking_id == tracking_id))
        .mappings()
        .first()
    )
    if head is None:
        raise TimelineNotFound(f"no complaint {tracking_id} on the tracking pages")
    confidential = head["visibility"] == Visibility.CONFIDENTIAL
    if public and confidential:
        raise NotAuthorized(f"complaint {tracking_id} is confidential")
    rows = list(
        conn.execute(
            select(entries)
            .where(entries.c.complaint_id == head["complaint_id"])
            .order_by(entries.c.version)
        ).mappings()
    )
    erased = any(r["event_type"] == "ReporterErased" for r in rows)
    return Timeline(
        tracking_id=head["tracking_id"],
        complaint_id=head["complaint_id"],
        title=head["title"],
        visibility=head["visibility"],
        state=head["state"],
        bucket=bucket(ComplaintState(head["state"])),
        filed_at=in_wib(head["filed_at"]),
        entries=[
            TimelineEntry(
                version=r["version"],
                at=in_wib(r["at"]),
                event_type=r["event_type"],
                actor_role=r["actor_role"],
                agency=r["agency"],
                agency_name=agency_names(r["agency"]) if r["agency"] else None,
                summary=with_agency_names(r["summary"], agency_names),
                text=r["text"]
                if shows_text(
                    confidential=confidential,
                    reporter_erased=erased,
                    by_reporter=r["actor_role"] == Role.REPORTER,
                )
                else None,
            )
            for r in rows
        ],
    )


def in_wib(value: datetime) -> datetime:
    """A stored time (SQLite drops the zone) as Jakarta's wall clock, WIB (UTC+7)."""
    return as_utc(value).astimezone(JAKARTA)
