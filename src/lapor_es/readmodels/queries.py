"""The read side's answers, shaped once for every caller: `lapor-es inbox|timeline` and the
HTTP door (`GET /v1/agencies/{code}/inbox`, `/v1/desk/queue`, `/v1/complaints/{id}/timeline`).

Each function takes an open connection to the read-model database and returns a plain
dataclass; `to_json` turns it into the JSON both the CLI (`--format json`) and the door send.
The national desk's inbox is its work queue (readmodels.desk): `inbox_page` for LAPOR has no
holder rows (the desk never "holds" a complaint in the agency sense) but a queue.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection

from lapor_es.readmodels.desk import NATIONAL_DESK, DeskItem, desk_queue
from lapor_es.readmodels.inbox import AgencyBuckets, InboxRow, bucket_counts, inbox_rows
from lapor_es.readmodels.timeline import AgencyNames, Timeline, timeline_for
from lapor_es.workflow import SlaPolicy, WorkingCalendar


def jsonable(row: dict[str, Any]) -> dict[str, Any]:
    """A flat record with its datetimes as ISO 8601 text."""
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


@dataclass(frozen=True)
class InboxPage:
    agency: str
    as_of: datetime
    buckets: AgencyBuckets
    complaints: list[InboxRow]
    queue: list[DeskItem] = field(default_factory=list)  # the national desk's only

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "agency": self.agency,
            "as_of": self.as_of.isoformat(),
            "buckets": asdict(self.buckets),
            "complaints": [jsonable(asdict(r)) for r in self.complaints],
        }
        if self.agency == NATIONAL_DESK:
            out["queue"] = [jsonable(asdict(item)) for item in self.queue]
        return out


@dataclass(frozen=True)
class DeskPage:
    as_of: datetime
    queue: list[DeskItem]

    def to_json(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "queue": [jsonable(asdict(item)) for item in self.queue],
        }


def inbox_page(
    conn: Connection,
    agency: str,
    *,
    now: datetime,
    calendar: WorkingCalendar,
    policy: SlaPolicy,
    top_level: Container[str],
    include_units: bool = True,
    state: str | None = None,
) -> InboxPage:
    """The agency's inbox (most urgent first) and bucket counters; for the national desk
    (LAPOR) its work queue as well."""
    rows = inbox_rows(
        conn, agency, include_units=include_units, now=now, calendar=calendar, state=state
    )
    queue: list[DeskItem] = []
    if agency == NATIONAL_DESK:
        waiting = desk_queue(conn, now=now, calendar=calendar, policy=policy, top_level=top_level)
        queue = [item for item in waiting if state is None or item.state == state]
    return InboxPage(agency, now, bucket_counts(conn, agency), rows, queue)


def desk_page(
    conn: Connection,
    *,
    now: datetime,
    calendar: WorkingCalendar,
    policy: SlaPolicy,
    top_level: Container[str],
) -> DeskPage:
    queue = desk_queue(conn, now=now, calendar=calendar, policy=policy, top_level=top_level)
    return DeskPage(now, queue)


def timeline_json(page: Timeline) -> dict[str, Any]:
    out = jsonable(asdict(page))
    return out | {"entries": [jsonable(asdict(e)) for e in page.entries]}


def public_timeline(
    conn: Connection, tracking_id: str, agency_names: AgencyNames
) -> dict[str, Any]:
    """The public tracking page as JSON (times in WIB, agencies named, public texts); raises
    not_found, or not_authorized while the complaint is confidential
    (readmodels.timeline.timeline_for)."""
    return timeline_json(timeline_for(conn, tracking_id, public=True, agency_names=agency_names))
