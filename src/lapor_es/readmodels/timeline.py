"""The public tracking page of a complaint: one plain-language line per event.

Tables (documented in docs/data-dictionary.md):
- `complaint_timeline`: one row per (complaint, version): when, what, which role, which
  agency, and a short Indonesian sentence that never carries identity or free text.
- `timeline_complaints`: one row per complaint with its CURRENT visibility, so the public page
  of a confidential complaint is refused, including one made confidential after the fact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import cached_property

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
from lapor_es.aggregates.values import ComplaintState
from lapor_es.contract.payloads import AnyPayload, Filed, Verified, VisibilityChanged
from lapor_es.projections.core import ReadModel
from lapor_es.projections.core import metadata as live_metadata
from lapor_es.projections.events import ProjectedEvent
from lapor_es.readmodels.lifecycle import bucket, state_after
from lapor_es.readmodels.timeline_text import event_agency, summarize
from lapor_es.readmodels.timestamps import as_utc
from lapor_es.workflow import WorkingCalendar

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
        conn.execute(
            self._insert_complaint,
            {
                "complaint_id": p.complaint_id,
                "tracking_id": p.tracking_id,
                "version": p.version,
                "visibility": p.visibility,
                "title": p.title,
                "state": str(ComplaintState.SUBMITTED),
                "filed_at": p.at,
                "updated_at": p.at,
            },
        )

    def _add_entry(self, conn: Connection, p: AnyPayload) -> None:
        conn.execute(
            self._insert_entry,
            {
                "complaint_id": p.complaint_id,
                "version": p.version,
                "tracking_id": p.tracking_id,
                "at": p.at,
                "event_type": p.type,
                "actor_role": p.role,
                "agency": event_agency(p),
                "summary": summarize(p),
            },
        )


def _state_set_by(p: AnyPayload) -> str | None:
    """The state `p` puts the complaint in, or None if it keeps the previous one."""
    try:
        return str(state_after(None, p))
    except ValueError:  # state_after needs the previous state: the event keeps it
        return None


@dataclass(frozen=True)
class TimelineEntry:
    version: int
    at: datetime
    event_type: str
    actor_role: str
    agency: str | None
    summary: str


@dataclass(frozen=True)
class Timeline:
    tracking_id: str
    complaint_id: str
    title: str
    visibility: str
    state: str
    bucket: str
    filed_at: datetime
    entries: list[TimelineEntry]


def timeline_for(conn: Connection, tracking_id: str, *, public: bool, prefix: str = "") -> Timeline:
    """The tracking page. `public`: refused (not_authorized) while the complaint is
    confidential; staff (public=False) always see it. Unknown ids raise not_found."""
    tables = define_tables(live_metadata if not prefix else MetaData(), prefix)
    entries, complaints = tables[ENTRIES], tables[COMPLAINTS]
    head = (
        conn.execute(select(complaints).where(complaints.c.tracking_id == tracking_id))
        .mappings()
        .first()
    )
    if head is None:
        raise TimelineNotFound(f"no complaint {tracking_id} on the tracking pages")
    if public and head["visibility"] == "confidential":
        raise NotAuthorized(f"complaint {tracking_id} is confidential")
    rows = conn.execute(
        select(entries)
        .where(entries.c.complaint_id == head["complaint_id"])
        .order_by(entries.c.version)
    ).mappings()
    return Timeline(
        tracking_id=head["tracking_id"],
        complaint_id=head["complaint_id"],
        title=head["title"],
        visibility=head["visibility"],
        state=head["state"],
        bucket=bucket(ComplaintState(head["state"])),
        filed_at=as_utc(head["filed_at"]),
        entries=[
            TimelineEntry(
                version=r["version"],
                at=as_utc(r["at"]),
                event_type=r["event_type"],
                actor_role=r["actor_role"],
                agency=r["agency"],
                summary=r["summary"],
            )
            for r in rows
        ],
    )
