"""The national desk's work queue: what waits on LAPOR itself, most urgent first.

A read-model query, no table of its own: it reads `complaint_facts` and `complaint_states`
(the complaints model) and `sla_deadlines` (the deadlines model). Three kinds of work:

- `escalated`: an SLA escalation addressed to the desk: a national escalation, or a parent
  escalation whose parent is the desk (the complaint is at the desk, or its holder is a
  top-level agency: one whose parent in the directory is LAPOR, or none). The directory
  decides, so the caller passes those top-level codes.
- `unverified`: filed (SUBMITTED), waiting for verification; due by the verification clock.
  Its `proposed_agency` is the agency the reporter chose: where verifying sends it unless
  the desk overrides it (with a reason).
- `postponed`: waiting for the reporter (POSTPONED), with the time waited since.

Urgency: escalations first (already breached and escalated), then unverified ones by due
time (overdue first), then postponed ones longest-waiting first. A complaint appears once,
under the first of those that applies.
"""

from __future__ import annotations

from collections.abc import Container
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, MetaData, Table, and_, or_, select

from lapor_es.readmodels.complaints import ComplaintsModel
from lapor_es.readmodels.deadlines import DeadlinesModel
from lapor_es.readmodels.timestamps import as_utc
from lapor_es.workflow import SlaPolicy, WorkingCalendar

NATIONAL_DESK = "LAPOR"  # the desk's code in inboxes and escalations (application.NATIONAL_DESK)


class DeskReason(StrEnum):
    ESCALATED = "escalated"
    UNVERIFIED = "unverified"
    POSTPONED = "postponed"


_RANK = {DeskReason.ESCALATED: 0, DeskReason.UNVERIFIED: 1, DeskReason.POSTPONED: 2}


@dataclass(frozen=True)
class DeskItem:
    """One complaint waiting on the national desk, with its clock as seen at `now`."""

    reason: DeskReason
    tracking_id: str
    complaint_id: str
    state: str
    title: str
    kind: str
    category: str | None
    channel: str
    visibility: str
    filed_at: datetime
    # The reporter's chosen agency: verification's default target (None: no choice; the
    # desk must name one). Kept after verification, to show where it was addressed.
    proposed_agency: str | None
    holder: str | None  # None: at the desk
    clock: str | None
    due_at: datetime | None
    working_days_left: int | None  # negative: that many working days overdue
    overdue: bool
    waiting_since: datetime  # when the complaint entered its current state
    waited_working_days: int  # working days since then


def _tables(calendar: WorkingCalendar, policy: SlaPolicy) -> tuple[Table, Table, Table]:
    # A private MetaData: the query never registers anything in the shared live metadata.
    md = MetaData()
    complaints = ComplaintsModel(calendar=calendar, table_metadata=md)
    deadlines = DeadlinesModel(calendar=calendar, table_metadata=md, policy=policy)
    return complaints.facts, complaints.states, deadlines.deadlines


def _addressed_to_desk(row: Any, top_level: Container[str]) -> bool:
    if row["escalated_national"]:
        return True
    return bool(row["escalated_parent"]) and (row["holder"] is None or row["holder"] in top_level)


def desk_queue(
    conn: Connection,
    *,
    now: datetime,
    calendar: WorkingCalendar,
    policy: SlaPolicy,
    top_level: Container[str],
) -> list[DeskItem]:
    """The desk's queue at `now`. `top_level`: the agency codes whose parent is the desk
    (LAPOR) or none: a parent escalation from them reaches the desk."""
    facts, states, deadlines = _tables(calendar, policy)
    current = states.c.until.is_(None)
    query = (
        select(
            facts,
            states.c.since,
            deadlines.c.clock,
            deadlines.c.due_at,
            deadlines.c.holder.label("deadline_holder"),
            deadlines.c.escalated_parent,
            deadlines.c.escalated_national,
        )
        .select_from(facts)
        .join(states, and_(states.c.complaint_id == facts.c.complaint_id, current))
        .outerjoin(deadlines, deadlines.c.complaint_id == facts.c.complaint_id)
        .where(
            or_(
                facts.c.state.in_(("SUBMITTED", "POSTPONED")),
                deadlines.c.escalated_parent.is_(True),
                deadlines.c.escalated_national.is_(True),
            )
        )
    )
    items = []
    for row in conn.execute(query).mappings():
        reason = _reason(row, top_level)
        if reason is not None:
            items.append(_item(row, reason, now, calendar))
    return sorted(items, key=_urgency)


def _reason(row: Any, top_level: Container[str]) -> DeskReason | None:
    escalation = {
        "escalated_parent": row["escalated_parent"],
        "escalated_national": row["escalated_national"],
        "holder": row["deadline_holder"],
    }
    if _addressed_to_desk(escalation, top_level):
        return DeskReason.ESCALATED
    if row["state"] == "SUBMITTED":
        return DeskReason.UNVERIFIED
    if row["state"] == "POSTPONED":
        return DeskReason.POSTPONED
    return None  # escalated to a parent agency that is not the desk


def _item(row: Any, reason: DeskReason, now: datetime, calendar: WorkingCalendar) -> DeskItem:
    due = as_utc(row["due_at"])
    since = as_utc(row["since"]) or now
    return DeskItem(
        reason=reason,
        tracking_id=row["tracking_id"],
        complaint_id=row["complaint_id"],
        state=row["state"],
        title=row["title"],
        kind=row["kind"],
        category=row["category"],
        channel=row["channel"],
        visibility=row["visibility"],
        filed_at=as_utc(row["filed_at"]) or now,
        proposed_agency=row["target_agency"] or None,
        holder=row["holder"] or None,
        clock=row["clock"],
        due_at=due,
        working_days_left=calendar.working_days_left(now, due) if due else None,
        overdue=due is not None and now >= due,
        waiting_since=since,
        waited_working_days=max(0, calendar.working_days_between(since, now)),
    )


def _urgency(item: DeskItem) -> tuple[int, datetime, str]:
    if item.reason == DeskReason.POSTPONED:
        return (_RANK[item.reason], item.waiting_since, item.tracking_id)
    far = datetime.max.replace(tzinfo=UTC)
    return (_RANK[item.reason], item.due_at or far, item.tracking_id)
