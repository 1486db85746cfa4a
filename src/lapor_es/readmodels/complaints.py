"""The analysts' base tables: one row per complaint, its state intervals, its forwardings.

`complaint_facts` is the current picture of each complaint; `complaint_states` keeps every
state it has been in, as half-open intervals [since, until), so any statistic can be asked
"as of" any instant; `complaint_forwardings` keeps every follow-up clock an agency held
(each forwarding, and each restart of the holder's clock by an interim response, a dispute
or a reopen) with its deadline and what ended it, for SLA compliance. No reporter identity
is ever stored here: the published events do not carry it.

Working-day durations are computed once, when the event is projected, with the calendar the
model was built with (the same calendar the engine uses for its clocks).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property
from typing import Any, ClassVar

from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Insert,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    Update,
    and_,
    bindparam,
    insert,
    select,
    update,
)

from lapor_es.aggregates.values import LAPOR_BUCKET, ComplaintState
from lapor_es.contract import payloads as p
from lapor_es.projections.bulk import execute_many
from lapor_es.projections.core import (
    IN_CHUNK,
    Failure,
    ReadModel,
    by_complaint,
    failure,
    rows_of,
)
from lapor_es.projections.events import ProjectedEvent
from lapor_es.readmodels.lifecycle import chain_after, state_after
from lapor_es.readmodels.timestamps import as_utc
from lapor_es.workflow import JAKARTA, WorkingCalendar

S = ComplaintState

# The holder chain is kept as agency codes joined by this (codes never contain it).
CHAIN_SEPARATOR = ">"

# The `level` of a forwardings row: how its follow-up clock started. A forwarding is
# "agency" (from the desk) or "unit" (passed down); the holder's clock restarted in place is
# one of RESTARTS, so an agency that answered once and then sat on a reopened or disputed
# complaint is judged on that clock too (issue 10 item 5).
INTERIM = "interim"
DISPUTE = "dispute"
REOPEN = "reopen"
RESTARTS = (INTERIM, DISPUTE, REOPEN)

# Outcomes of a forwarding row; "open" until something ends it.
OPEN = "open"
RESPONDED = "responded"
MERGED = "merged"  # the complaint was merged into another as a duplicate
DECLINED = "declined"
REFORWARDED = "reforwarded"
RESOLVED_BY_ADMIN = "resolved_by_admin"
# Unreachable through the workflow's guards (nothing is open in those states), kept so a
# row is never left open if the rules are ever widened.
RESOLVED_OTHERWISE = "resolved"
ARCHIVED = "archived"


def bucket(state: str) -> str:
    """The LAPOR! status bucket of one of our states."""
    return LAPOR_BUCKET[ComplaintState(state)]


def filed_day(at: datetime) -> date:
    """The WIB calendar date of an instant: the day a complaint counts for."""
    return at.astimezone(JAKARTA).date()


def split_chain(text: str | None) -> list[str]:
    return text.split(CHAIN_SEPARATOR) if text else []


class ComplaintsModel(ReadModel):
    name: ClassVar[str] = "complaints"

    def __init__(
        self,
        *,
        calendar: WorkingCalendar,
        prefix: str = "",
        table_metadata: MetaData | None = None,
    ) -> None:
        self.calendar = calendar
        self._end_open_stmts: dict[tuple[bool, bool], Update] = {}
        super().__init__(prefix=prefix, table_metadata=table_metadata)

    @classmethod
    def table_names(cls) -> Sequence[str]:
        return ("complaint_facts", "complaint_states", "complaint_forwardings")

    # ------------------------------------------------------------------ tables
    def define(self, md: MetaData, prefix: str) -> None:
        ts = DateTime(timezone=True)
        Table(
            prefix + "complaint_facts",
            md,
            Column("complaint_id", String(36), primary_key=True),
            Column("tracking_id", String(32), nullable=False, unique=True),
            Column("filed_at", ts, nullable=False),
            Column("filed_day", Date, nullable=False, index=True, comment="WIB date of filing"),
            Column("kind", String(32), nullable=False, index=True),
            Column("channel", String(16), nullable=False, index=True),
            Column("category", String(100), index=True, comment="Filed's, then Verified's"),
            Column("title", String(150), nullable=False),
            Column("visibility", String(16), nullable=False),
            Column("target_agency", String(64)),
            Column("state", String(16), nullable=False, index=True),
            Column("bucket", String(64), nullable=False),
            Column("verified_at", ts, comment="first verification"),
            Column("first_forwarded_at", ts),
            Column("agency", String(64), index=True, comment="last desk forwarding's agency"),
            Column("holder", String(64), comment="last element of the holder chain"),
            Column("holder_chain", String(400), comment="agency>unit>...; empty at the desk"),
            Column("first_response_at", ts),
            Column("final_response_at", ts, comment="latest final response"),
            Column("resolved_at", ts, comment="cleared by a reopen"),
            Column("resolution_mode", String(32)),
            Column("archived_at", ts),
            Column("archive_reason", String(32)),
            Column("merged_into", String(32), comment="tracking id of the original"),
            Column("reporter_erased", Boolean, nullable=False, default=False),
            Column("reopen_count", Integer, nullable=False, default=0),
            Column("decline_count", Integer, nullable=False, default=0),
            Column("sla_warnings", Integer, nullable=False, default=0),
            Column("sla_breaches", Integer, nullable=False, default=0),
            Column("escalations", Integer, nullable=False, default=0),
            Column("version", Integer, nullable=False),
            Column("last_event_at", ts, nullable=False),
            Column("wd_to_verification", Integer),
            Column("wd_to_first_response", Integer),
            Column("wd_to_resolution", Integer),
            keep_existing=True,
        )
        Table(
            prefix + "complaint_states",
            md,
            Column("complaint_id", String(36), primary_key=True),
            Column("version", Integer, primary_key=True, comment="event that entered it"),
            Column("state", String(16), nullable=False, index=True),
            Column("bucket", String(64), nullable=False),
            Column("since", ts, nullable=False, index=True),
            Column("until", ts, comment="NULL while current"),
            Column("wd_since_filed", Integer, nullable=False),
            Column("resolution_mode", String(32), comment="RESOLVED: how it was resolved"),
            keep_existing=True,
        )
        Table(
            prefix + "complaint_forwardings",
            md,
            Column("complaint_id", String(36), primary_key=True),
            Column("version", Integer, primary_key=True),
            Column("agency", String(64), nullable=False, index=True, comment="to_agency"),
            Column("top_agency", String(64), nullable=False, index=True),
            Column("from_agency", String(64)),
            Column("level", String(8), nullable=False),
            Column("forwarded_at", ts, nullable=False, index=True),
            Column("due_at", ts, nullable=False),
            Column("followed_up_at", ts),
            Column("ended_at", ts),
            Column("outcome", String(24), nullable=False),
            Column("within_sla", Boolean),
            keep_existing=True,
        )

    @property
    def facts(self) -> Table:
        return self.table("complaint_facts")

    @property
    def states(self) -> Table:
        return self.table("complaint_states")

    @property
    def forwardings(self) -> Table:
        return self.table("complaint_forwardings")

    # ------------------------------------------------------------------ statements
    # Built once per model and executed with lists of parameter dicts (executemany): a fresh
    # statement per event made SQLAlchemy coerce every value and recompute the cache key.
    # Where-clause parameters are named b_* because a column's own name is reserved for its
    # SET value.
    @cached_property
    def _open_forwardings(self) -> Select[Any]:
        fw = self.forwardings
        return select(fw).where(
            fw.c.complaint_id.in_(bindparam("ids", expanding=True)), fw.c.outcome == OPEN
        )

    @cached_property
    def _update_facts(self) -> Update:
        return update(self.facts).where(self.facts.c.complaint_id == bindparam("b_complaint_id"))

    @cached_property
    def _insert_facts(self) -> Insert:
        return insert(self.facts)

    @cached_property
    def _insert_state(self) -> Insert:
        return insert(self.states)

    @cached_property
    def _close_state(self) -> Update:
        st = self.states
        return (
            update(st)
            .where(and_(st.c.complaint_id == bindparam("b_complaint_id"), st.c.until.is_(None)))
            .values(until=bindparam("b_at", type_=st.c.until.type))
        )

    @cached_property
    def _insert_forwarding(self) -> Insert:
        return insert(self.forwardings)

    @cached_property
    def _end_forwarding(self) -> Update:
        fw = self.forwardings
        return update(fw).where(
            fw.c.complaint_id == bindparam("b_complaint_id"),
            fw.c.version == bindparam("b_version"),
        )

    # ------------------------------------------------------------------ apply
    def apply(self, conn: Connection, event: ProjectedEvent) -> None:
        """One event: the batch path with a batch of one (the rules live in `_step`)."""
        failures = self.apply_batch(conn, [event])
        if failures:
            raise failures[0].exception

    def apply_batch(self, conn: Connection, events: Sequence[ProjectedEvent]) -> list[Failure]:
        """The set-based path: the facts and open forwardings of the batch's complaints in
        one read each, the events folded in memory by `_step`, then one executemany per
        kind of write. A complaint whose event fails is written as of the event before."""
        groups = by_complaint(events)
        blank = dict.fromkeys(self.facts.columns.keys())
        facts = {r["complaint_id"]: blank | dict(r) for r in rows_of(conn, self.facts, groups)}
        open_rows: dict[str, list[dict[str, Any]]] = {}
        ids = sorted(groups)
        for i in range(0, len(ids), IN_CHUNK):
            for row in conn.execute(self._open_forwardings, {"ids": ids[i : i + IN_CHUNK]}):
                open_rows.setdefault(row.complaint_id, []).append(dict(row._mapping))
        failures: list[Failure] = []
        writes = _Writes()
        for cid, complaint_events in groups.items():
            work = _Working(facts.get(cid), open_rows.get(cid, []))
            for ev in complaint_events:
                before = work.copy()
                try:
                    self._step(work, ev)
                except Exception as exc:  # parked by the engine; earlier events stay
                    failures.append(failure(ev, exc))
                    work = before
                    break
            writes.add(cid, work, stored=cid in facts)
        writes.run(conn, self)
        return failures

    def _step(self, work: _Working, event: ProjectedEvent) -> None:
        """One event on one complaint's rows, in memory."""
        payload = event.payload
        at = event.at.astimezone(UTC)
        if isinstance(payload, p.Filed):
            self._filed(work, payload, at)
            return
        row = work.facts
        if row is None:
            raise LookupError(f"complaint {event.complaint_id} has no Filed event projected")
        filed_at = as_utc(row["filed_at"])
        assert filed_at is not None
        changes: dict[str, Any] = {"version": event.version, "last_event_at": at}
        state = state_after(ComplaintState(row["state"]), payload)
        if state != row["state"]:
            mode = payload.mode if isinstance(payload, p.Resolved) else None
            self._enter_state(work, event, state, at, filed_at, mode)
            changes |= {"state": state, "bucket": bucket(state)}
        changes |= self._facts_changes(work, event, row, at, filed_at)
        work.facts = row | changes

    def _filed(self, work: _Working, payload: p.Filed, at: datetime) -> None:
        state = S.SUBMITTED.value
        work.enter_state(
            {
                "complaint_id": payload.complaint_id,
                "version": payload.version,
                "state": state,
                "bucket": bucket(state),
                "since": at,
                "until": None,
                "wd_since_filed": 0,
                "resolution_mode": None,
            }
        )
        work.facts = dict.fromkeys(self.facts.columns.keys()) | {
            "complaint_id": payload.complaint_id,
            "tracking_id": payload.tracking_id,
            "filed_at": at,
            "filed_day": filed_day(at),
            "kind": payload.kind,
            "channel": payload.channel,
            "category": payload.category,
            "title": payload.title,
            "visibility": payload.visibility,
            "target_agency": payload.target_agency,
            "state": state,
            "bucket": bucket(state),
            "holder_chain": "",
            "reporter_erased": False,
            "reopen_count": 0,
            "decline_count": 0,
            "sla_warnings": 0,
            "sla_breaches": 0,
            "escalations": 0,
            "version": payload.version,
            "last_event_at": at,
        }

    def _enter_state(
        self,
        work: _Working,
        event: ProjectedEvent,
        state: str,
        at: datetime,
        filed_at: datetime,
        resolution_mode: str | None,
    ) -> None:
        work.enter_state(
            {
                "complaint_id": event.complaint_id,
                "version": event.version,
                "state": state,
                "bucket": bucket(state),
                "since": at,
                "until": None,
                "wd_since_filed": self.calendar.working_days_between(filed_at, at),
                "resolution_mode": resolution_mode,
            }
        )

    def _wd(self, start: datetime | None, end: datetime) -> int | None:
        return None if start is None else self.calendar.working_days_between(start, end)

    def _facts_changes(
        self,
        work: _Working,
        event: ProjectedEvent,
        row: dict[str, Any],
        at: datetime,
        filed_at: datetime,
    ) -> dict[str, Any]:
        """The facts columns this event changes (besides state, version, last_event_at)."""
        payload = event.payload
        chain = split_chain(row["holder_chain"])
        match payload:
            case p.Verified():
                changes: dict[str, Any] = {
                    "category": payload.category,
                    "title": payload.title,
                    "kind": payload.kind,
                    "visibility": payload.visibility,
                }
                if row["verified_at"] is None:  # a re-verification after a decline keeps it
                    changes |= {
                        "verified_at": at,
                        "wd_to_verification": self._wd(filed_at, at),
                    }
                return changes
            case p.Forwarded():
                after = list(chain_after(tuple(chain), payload))
                dropped = [agency for agency in chain if agency not in after]
                work.end_open(at, REFORWARDED, only=dropped)
                top = after[0]
                work.forward(
                    {
                        "complaint_id": event.complaint_id,
                        "version": event.version,
                        "agency": payload.to_agency,
                        "top_agency": top,
                        "from_agency": payload.from_agency,
                        "level": payload.level,
                        "forwarded_at": at,
                        "due_at": payload.follow_up_due_at.astimezone(UTC),
                        "followed_up_at": None,
                        "ended_at": None,
                        "outcome": OPEN,
                        "within_sla": None,
                    }
                )
                changes = {
                    "holder_chain": CHAIN_SEPARATOR.join(after),
                    "holder": after[-1],
                    "agency": top,
                }
                if row["first_forwarded_at"] is None:
                    changes["first_forwarded_at"] = at
                return changes
            case p.ForwardingDeclined():
                work.end_open(at, DECLINED, only=[payload.agency])
                rest = chain[:-1]
                return {
                    "holder_chain": CHAIN_SEPARATOR.join(rest),
                    "holder": rest[-1] if rest else None,
                    "decline_count": row["decline_count"] + 1,
                }
            case p.Responded():
                work.end_open(at, RESPONDED, followed_up=True)
                if payload.follow_up_due_at is not None:  # interim: the next follow-up is due
                    self._restart_clock(work, event, chain, INTERIM, payload.follow_up_due_at)
                changes = {}
                if row["first_response_at"] is None:
                    first_fw = as_utc(row["first_forwarded_at"])
                    changes |= {
                        "first_response_at": at,
                        "wd_to_first_response": self._wd(first_fw, at),
                    }
                if payload.kind == "final":
                    changes["final_response_at"] = at
                return changes
            case p.Resolved():
                outcome = RESOLVED_BY_ADMIN if payload.mode == "by_admin" else RESOLVED_OTHERWISE
                work.end_open(at, outcome)
                return {
                    "resolved_at": at,
                    "resolution_mode": payload.mode,
                    "wd_to_resolution": self._wd(filed_at, at),
                }
            case p.Reopened():
                self._restart_clock(work, event, chain, REOPEN, payload.follow_up_due_at)
                return {
                    "resolved_at": None,
                    "resolution_mode": None,
                    "wd_to_resolution": None,
                    "reopen_count": row["reopen_count"] + 1,
                }
            case p.Archived():
                work.end_open(at, ARCHIVED)
                return {"archived_at": at, "archive_reason": payload.reason}
            case p.Merged():
                # Merged after forwarding: the agency's clock ends here (judged only if it
                # was already overdue), and the duplicate leaves the agency.
                work.end_open(at, MERGED)
                return {
                    "archived_at": at,
                    "archive_reason": "duplicate",
                    "merged_into": payload.into_tracking_id,
                    "holder_chain": "",
                    "holder": None,
                }
            case p.VisibilityChanged():
                return {"visibility": payload.new}
            case p.ReporterErased():
                return {"reporter_erased": True}
            case p.SlaWarned():
                return {"sla_warnings": row["sla_warnings"] + 1}
            case p.SlaBreached():
                return {"sla_breaches": row["sla_breaches"] + 1}
            case p.Escalated():
                return {"escalations": row["escalations"] + 1}
            case p.ReporterReplied() if payload.follow_up_due_at is not None:
                self._restart_clock(work, event, chain, DISPUTE, payload.follow_up_due_at)
                return {}
            case _:  # Postponed, InformationSupplemented, WorkStarted, other replies
                return {}

    def _restart_clock(
        self,
        work: _Working,
        event: ProjectedEvent,
        chain: Sequence[str],
        level: str,
        due_at: datetime,
    ) -> None:
        """A follow-up clock restarted in place: a new row for the holder, judged on its own
        (its top-level agency answers for it, as for a forwarding to one of its units)."""
        if not chain:
            raise ValueError(
                f"{event.payload.type} restarted the follow-up clock of "
                f"{event.payload.tracking_id}, which no agency holds"
            )
        work.forward(
            {
                "complaint_id": event.complaint_id,
                "version": event.version,
                "agency": chain[-1],
                "top_agency": chain[0],
                "from_agency": None,
                "level": level,
                "forwarded_at": event.at.astimezone(UTC),
                "due_at": due_at.astimezone(UTC),
                "followed_up_at": None,
                "ended_at": None,
                "outcome": OPEN,
                "within_sla": None,
            }
        )

    # ------------------------------------------------------------------ views
    def views(self) -> list[tuple[str, str]]:
        """Analysts' views. Plain SQL that both SQLite and PostgreSQL accept.

        They show the current picture (and "now" for overdue forwardings); for any other
        as-of time use `lapor_es.readmodels.stats` or the interval table directly.
        """
        facts = self.prefix + "complaint_facts"
        fw = self.prefix + "complaint_forwardings"
        followed = "'IN_PROGRESS', 'RESPONDED', 'RESOLVED'"
        v_complaints = f"""
SELECT complaint_id, tracking_id, filed_day, filed_at, kind, channel, category, title,
       visibility, target_agency, agency, holder, state, bucket, verified_at,
       first_forwarded_at, first_response_at, final_response_at, resolved_at,
       resolution_mode, archived_at, archive_reason, merged_into, reopen_count,
       decline_count, sla_warnings, sla_breaches, escalations, wd_to_verification,
       wd_to_first_response, wd_to_resolution, version, last_event_at,
       CASE WHEN verified_at IS NOT NULL THEN 1 ELSE 0 END AS is_verified,
       CASE WHEN state IN ({followed}) THEN 1 ELSE 0 END AS is_followed_up,
       CASE WHEN state = 'RESOLVED' THEN 1 ELSE 0 END AS is_resolved,
       CASE WHEN state = 'ARCHIVED' THEN 1 ELSE 0 END AS is_archived
FROM {facts}"""
        v_daily_counts = f"""
SELECT filed_day, agency, category, channel, kind,
       COUNT(*) AS filed,
       SUM(CASE WHEN verified_at IS NOT NULL THEN 1 ELSE 0 END) AS verified,
       SUM(CASE WHEN first_forwarded_at IS NOT NULL THEN 1 ELSE 0 END) AS forwarded,
       SUM(CASE WHEN first_response_at IS NOT NULL THEN 1 ELSE 0 END) AS responded,
       SUM(CASE WHEN state = 'RESOLVED' THEN 1 ELSE 0 END) AS resolved,
       SUM(CASE WHEN state = 'ARCHIVED' THEN 1 ELSE 0 END) AS archived
FROM {facts}
GROUP BY filed_day, agency, category, channel, kind"""
        # The same partition of clocks as stats.sla_compliance, with now as T.
        followed_now = "followed_up_at IS NOT NULL AND followed_up_at <= CURRENT_TIMESTAMP"
        v_agency_sla = f"""
SELECT agency, clocks, met, breached, running, withdrawn,
       CASE WHEN met + breached = 0 THEN NULL ELSE 1.0 * met / (met + breached) END
         AS compliance
FROM (
  SELECT top_agency AS agency,
         COUNT(*) AS clocks,
         SUM(CASE WHEN {followed_now} AND followed_up_at <= due_at
                  THEN 1 ELSE 0 END) AS met,
         SUM(CASE WHEN {followed_now} AND followed_up_at > due_at THEN 1
                  WHEN NOT ({followed_now}) AND due_at <= CURRENT_TIMESTAMP
                       AND (ended_at IS NULL OR ended_at >= due_at) THEN 1
                  ELSE 0 END) AS breached,
         SUM(CASE WHEN NOT ({followed_now}) AND due_at > CURRENT_TIMESTAMP
                       AND (ended_at IS NULL OR ended_at > CURRENT_TIMESTAMP)
                  THEN 1 ELSE 0 END) AS running,
         SUM(CASE WHEN NOT ({followed_now}) AND ended_at <= CURRENT_TIMESTAMP
                       AND ended_at < due_at
                  THEN 1 ELSE 0 END) AS withdrawn
  FROM {fw}
  WHERE forwarded_at <= CURRENT_TIMESTAMP
  GROUP BY top_agency
) AS per_agency"""
        v_completion_by_agency = f"""
SELECT agency, filed, verified, followed_up, resolved, archived,
       1.0 * resolved / filed AS completion_rate,
       1.0 * followed_up / filed AS follow_up_rate,
       CASE WHEN verified = 0 THEN NULL ELSE 1.0 * resolved / verified END
         AS verified_completion_rate
FROM (
  SELECT agency,
         COUNT(*) AS filed,
         SUM(CASE WHEN verified_at IS NOT NULL THEN 1 ELSE 0 END) AS verified,
         SUM(CASE WHEN state IN ({followed}) THEN 1 ELSE 0 END) AS followed_up,
         SUM(CASE WHEN state = 'RESOLVED' THEN 1 ELSE 0 END) AS resolved,
         SUM(CASE WHEN state = 'ARCHIVED' THEN 1 ELSE 0 END) AS archived
  FROM {facts}
  GROUP BY agency
) AS per_agency"""
        return [
            (self.prefix + "v_complaints", v_complaints.strip()),
            (self.prefix + "v_daily_counts", v_daily_counts.strip()),
            (self.prefix + "v_agency_sla", v_agency_sla.strip()),
            (self.prefix + "v_completion_by_agency", v_completion_by_agency.strip()),
        ]


def ended(row: dict[str, Any], at: datetime, outcome: str, *, followed_up: bool) -> dict[str, Any]:
    """An open forwarding once something ends it at `at`. Followed up: judged on time if
    by its due time. Ended without a follow-up: a miss if it was already overdue, else not
    judged."""
    due_at = as_utc(row["due_at"])
    assert due_at is not None
    if followed_up:
        judged: dict[str, Any] = {"followed_up_at": at, "within_sla": due_at >= at}
    else:
        judged = {"within_sla": False if due_at <= at else None}
    return row | {"ended_at": at, "outcome": outcome} | judged


@dataclass
class _Working:
    """One complaint's rows while a batch folds its events: the facts row (None before
    Filed), its open forwardings, and what the batch adds or ends."""

    facts: dict[str, Any] | None
    open: list[dict[str, Any]]  # open forwardings, stored or new, oldest first
    new_forwardings: dict[int, dict[str, Any]] = field(default_factory=dict)  # by version
    ended_stored: dict[int, dict[str, Any]] = field(default_factory=dict)  # by version
    new_states: list[dict[str, Any]] = field(default_factory=list)
    close_stored_state_at: datetime | None = None

    def copy(self) -> _Working:
        """A copy to go back to if the next event fails (rows are replaced, never
        changed in place, so copying the containers is enough)."""
        return _Working(
            self.facts,
            list(self.open),
            dict(self.new_forwardings),
            dict(self.ended_stored),
            list(self.new_states),
            self.close_stored_state_at,
        )

    def enter_state(self, row: dict[str, Any]) -> None:
        """A new state interval; the current one ends when it starts."""
        if self.new_states:
            self.new_states[-1] = self.new_states[-1] | {"until": row["since"]}
        elif self.facts is not None:
            self.close_stored_state_at = row["since"]
        self.new_states.append(row)

    def forward(self, row: dict[str, Any]) -> None:
        self.open.append(row)
        self.new_forwardings[row["version"]] = row

    def end_open(
        self,
        at: datetime,
        outcome: str,
        *,
        only: Sequence[str] | None = None,
        followed_up: bool = False,
    ) -> None:
        """End the complaint's open forwardings (those of `only` agencies, if given).

        Open forwardings are exactly those whose agency is still on the holder chain, so a
        response by anyone on the chain is the follow-up of every one of them.
        """
        still_open = []
        for row in self.open:
            if only is not None and row["agency"] not in only:
                still_open.append(row)
                continue
            done = ended(row, at, outcome, followed_up=followed_up)
            if row["version"] in self.new_forwardings:
                self.new_forwardings[row["version"]] = done
            else:
                self.ended_stored[row["version"]] = done
        self.open = still_open


@dataclass
class _Writes:
    """A batch's writes to the three tables, one executemany per kind of statement."""

    facts_inserts: list[dict[str, Any]] = field(default_factory=list)
    facts_updates: list[dict[str, Any]] = field(default_factory=list)
    state_closes: list[dict[str, Any]] = field(default_factory=list)
    state_inserts: list[dict[str, Any]] = field(default_factory=list)
    forwarding_inserts: list[dict[str, Any]] = field(default_factory=list)
    forwarding_ends: list[dict[str, Any]] = field(default_factory=list)

    def add(self, cid: str, work: _Working, *, stored: bool) -> None:
        if work.facts is None:
            return
        key = {"b_complaint_id": cid}
        if stored:
            self.facts_updates.append(work.facts | key)
        else:
            self.facts_inserts.append(work.facts)
        if work.close_stored_state_at is not None:
            self.state_closes.append(key | {"b_at": work.close_stored_state_at})
        self.state_inserts.extend(work.new_states)
        self.forwarding_inserts.extend(work.new_forwardings.values())
        for version, row in work.ended_stored.items():
            self.forwarding_ends.append(
                {
                    "b_complaint_id": cid,
                    "b_version": version,
                    "followed_up_at": row["followed_up_at"],
                    "ended_at": row["ended_at"],
                    "outcome": row["outcome"],
                    "within_sla": row["within_sla"],
                }
            )

    def run(self, conn: Connection, model: ComplaintsModel) -> None:
        for stmt, params in (
            (model._insert_facts, self.facts_inserts),
            (model._update_facts, self.facts_updates),
            (model._close_state, self.state_closes),
            (model._insert_state, self.state_inserts),
            (model._end_forwarding, self.forwarding_ends),
            (model._insert_forwarding, self.forwarding_inserts),
        ):
            execute_many(conn, stmt, params)
