"""Statistics over the complaints read model, each for an explicit cohort and as-of time.

A cohort is the complaints filed on WIB days `filed_from`..`filed_to` (inclusive) that had
been filed by `as_of`. Everything is evaluated as of `as_of` from the state intervals and
timestamps, never from "current" columns, so asking again later gives the same answer:

- state: the `complaint_states` row with since <= as_of < until (or until NULL);
- agency: the to_agency of the last forwarding by the national desk at or before as_of
  (the top-level agency responsible then, or last responsible if it was declined back to
  the desk); complaints never forwarded by then have no agency ("(none)");
- category, channel and kind are the current values (they change only at verification).

Percentiles use the nearest-rank method: the p-th percentile of n sorted values is the
ceil(p * n / 100)-th value. The median is the 50th percentile, i.e. the lower middle value
for an even n; both are always values that occurred.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any, Literal

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Subquery,
    and_,
    case,
    func,
    literal,
    or_,
    select,
)

from lapor_es.readmodels.complaints import ComplaintsModel

Breakdown = Literal["day", "agency", "category", "channel", "kind"]
BREAKDOWNS: tuple[Breakdown, ...] = ("day", "agency", "category", "channel", "kind")
ALL = "(all)"  # the key of an overall row
NONE = "(none)"  # the key of complaints without a value (e.g. no agency yet)
FOLLOWED_UP_STATES = ("IN_PROGRESS", "RESPONDED", "RESOLVED")


@dataclass(frozen=True)
class Cohort:
    filed_from: date
    filed_to: date
    as_of: datetime

    def __post_init__(self) -> None:
        if self.as_of.tzinfo is None:
            raise ValueError("as_of must be timezone-aware")
        if self.filed_to < self.filed_from:
            raise ValueError("filed_to is before filed_from")
        # SQLite stores UTC text: every bound instant must be in UTC too.
        object.__setattr__(self, "as_of", self.as_of.astimezone(UTC))


@dataclass(frozen=True)
class Filters:
    agency: str | None = None
    category: str | None = None
    channel: str | None = None
    kind: str | None = None


@dataclass(frozen=True)
class CompletionRow:
    key: str
    filed: int
    verified: int
    followed_up: int
    resolved: int
    archived: int
    resolved_by_admin: int  # of `resolved`: closed by the desk itself (mode by_admin)
    merged: int = 0  # of `archived`: merged into another report as duplicates

    @property
    def completion_rate_without_duplicates(self) -> float | None:
        """Completion counting each problem once: merged duplicates left out of the
        denominator (their originals carry them)."""
        return ratio(self.resolved, self.filed - self.merged)

    @property
    def completion_rate(self) -> float | None:
        return ratio(self.resolved, self.filed)

    @property
    def completion_rate_without_admin(self) -> float | None:
        """Completion by the agencies' answers alone: the desk's own closures left out."""
        return ratio(self.resolved - self.resolved_by_admin, self.filed)

    @property
    def follow_up_rate(self) -> float | None:
        return ratio(self.followed_up, self.filed)

    @property
    def verified_completion_rate(self) -> float | None:
        return ratio(self.resolved, self.verified)


Metric = Literal["verification", "first_response", "resolution"]
METRICS: tuple[Metric, ...] = ("verification", "first_response", "resolution")


@dataclass(frozen=True)
class DurationRow:
    key: str
    metric: Metric
    count: int
    median: int | None
    p90: int | None


@dataclass(frozen=True)
class SlaRow:
    """One agency's follow-up clocks as of T; every clock started is in exactly one of
    met, breached, running and withdrawn."""

    agency: str
    clocks: int  # started by as_of: forwardings, and restarts (interim, dispute, reopen)
    met: int  # followed up by its due time
    breached: int  # followed up late, or due without a follow-up (also if it ended overdue)
    running: int  # open, not due yet
    withdrawn: int  # ended before its due time without a follow-up: neither hit nor miss

    @property
    def judged(self) -> int:
        return self.met + self.breached

    @property
    def within_sla(self) -> int:
        return self.met

    @property
    def compliance(self) -> float | None:
        """met / (met + breached); None while nothing is judged."""
        return ratio(self.met, self.judged)


@dataclass(frozen=True)
class RankingRow:
    rank: int
    agency: str
    judged: int
    within_sla: int
    compliance: float


@dataclass(frozen=True)
class SlowRow:
    agency: str
    count: int
    median: int
    p90: int


def ratio(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else numerator / denominator


def percentile(values: Iterable[int], pct: int) -> int | None:
    """Nearest-rank percentile (1 <= pct <= 100); None for no values."""
    if not 1 <= pct <= 100:
        raise ValueError("pct must be between 1 and 100")
    ordered = sorted(values)
    if not ordered:
        return None
    rank = -(-pct * len(ordered) // 100)  # ceil in integers: no float error
    return ordered[rank - 1]


def competition_ranks(scores: Sequence[float]) -> list[int]:
    """1224 ranking of scores already sorted best first: ties share the better rank."""
    ranks: list[int] = []
    for i, score in enumerate(scores):
        ranks.append(ranks[-1] if i and score == scores[i - 1] else i + 1)
    return ranks


def _key(value: Any) -> str:
    if value is None:
        return NONE
    return value.isoformat() if isinstance(value, date) else str(value)


# ---------------------------------------------------------------------- cohort
def cohort_rows(model: ComplaintsModel, cohort: Cohort, filters: Filters) -> Subquery:
    """One row per complaint of the cohort, with its state and agency as of `as_of`."""
    f, s, fw = model.facts, model.states, model.forwardings
    t = cohort.as_of
    agency_then = (
        select(fw.c.agency)
        .where(
            and_(
                fw.c.complaint_id == f.c.complaint_id,
                fw.c.level == "agency",
                fw.c.forwarded_at <= t,
            )
        )
        .order_by(fw.c.forwarded_at.desc(), fw.c.version.desc())
        .limit(1)
        .correlate(f)
        .scalar_subquery()
    )
    state_then = and_(
        s.c.complaint_id == f.c.complaint_id,
        s.c.since <= t,
        or_(s.c.until.is_(None), s.c.until > t),
    )
    conditions: list[ColumnElement[bool]] = [
        f.c.filed_day >= cohort.filed_from,
        f.c.filed_day <= cohort.filed_to,
        f.c.filed_at <= t,
    ]
    for column, wanted in (
        (f.c.category, filters.category),
        (f.c.channel, filters.channel),
        (f.c.kind, filters.kind),
    ):
        if wanted is not None:
            conditions.append(column == wanted)
    return (
        select(
            f.c.complaint_id,
            f.c.filed_day.label("day"),
            f.c.category,
            f.c.channel,
            f.c.kind,
            agency_then.label("agency"),
            s.c.state,
            s.c.resolution_mode,
            s.c.wd_since_filed,
            f.c.verified_at,
            f.c.wd_to_verification,
            f.c.first_response_at,
            f.c.wd_to_first_response,
            f.c.merged_into,
        )
        .select_from(f.join(s, state_then))
        .where(and_(*conditions))
        .subquery("cohort")
    )


def _filtered(query: Select[Any], rows: Subquery, filters: Filters) -> Select[Any]:
    return query if filters.agency is None else query.where(rows.c.agency == filters.agency)


# ---------------------------------------------------------------------- rates
def completion(
    conn: Connection,
    model: ComplaintsModel,
    cohort: Cohort,
    filters: Filters = Filters(),
    *,
    by: Breakdown | None = None,
) -> list[CompletionRow]:
    """Filed, verified, followed up, resolved and archived counts (and their rates).

    Archived complaints stay in the denominator, as in LAPOR!'s published figure. Of the
    resolved, those the desk closed itself (by_admin, as of as_of) are counted apart, for
    the completion rate without admin closures; of the archived, the duplicates merged into
    another report (as of as_of: archiving is final, so ARCHIVED with an original named),
    for the completion rate without duplicates.
    """
    rows = cohort_rows(model, cohort, filters)
    key = rows.c[by] if by else None
    counts = [
        func.count(),
        func.sum(case((rows.c.verified_at <= cohort.as_of, 1), else_=0)),
        func.sum(case((rows.c.state.in_(FOLLOWED_UP_STATES), 1), else_=0)),
        func.sum(case((rows.c.state == "RESOLVED", 1), else_=0)),
        func.sum(case((rows.c.state == "ARCHIVED", 1), else_=0)),
        func.sum(
            case(
                (and_(rows.c.state == "RESOLVED", rows.c.resolution_mode == "by_admin"), 1),
                else_=0,
            )
        ),
        func.sum(
            case((and_(rows.c.state == "ARCHIVED", rows.c.merged_into.is_not(None)), 1), else_=0)
        ),
    ]
    query = _filtered(select(*([key] if key is not None else []), *counts), rows, filters)
    if key is not None:
        query = query.group_by(key)
    out: list[CompletionRow] = []
    for row in conn.execute(query):
        values = [int(v or 0) for v in (row[1:] if key is not None else row)]
        out.append(CompletionRow(_key(row[0]) if key is not None else ALL, *values))
    # Sorted here: SQLite and PostgreSQL disagree on where NULL keys sort.
    return sorted(out, key=lambda r: r.key)


# ---------------------------------------------------------------------- durations
def _duration_values(
    conn: Connection, rows: Subquery, metric: Metric, as_of: datetime, key: Any, filters: Filters
) -> list[tuple[Any, int]]:
    if metric == "verification":
        value, done = rows.c.wd_to_verification, rows.c.verified_at <= as_of
    elif metric == "first_response":
        value, done = rows.c.wd_to_first_response, rows.c.first_response_at <= as_of
    else:
        # The resolution holding at as_of (a reopened complaint counts only while resolved).
        value, done = rows.c.wd_since_filed, rows.c.state == "RESOLVED"
    query = _filtered(select(key, value).where(and_(done, value.is_not(None))), rows, filters)
    return [(k, int(v)) for k, v in conn.execute(query)]


def durations(
    conn: Connection,
    model: ComplaintsModel,
    cohort: Cohort,
    filters: Filters = Filters(),
    *,
    by: Breakdown | None = None,
    metrics: Sequence[Metric] = METRICS,
) -> list[DurationRow]:
    """Working days filed -> verified, first forwarding -> first response, filed -> resolved:
    count, median and 90th percentile (nearest rank) of those reached by as_of."""
    rows = cohort_rows(model, cohort, filters)
    key = rows.c[by] if by else literal(ALL)
    out: list[DurationRow] = []
    for metric in metrics:
        groups: dict[str, list[int]] = defaultdict(list)
        for k, v in _duration_values(conn, rows, metric, cohort.as_of, key, filters):
            groups[_key(k)].append(v)
        if by is None and not groups:
            groups[ALL] = []
        for k in sorted(groups):
            vals = groups[k]
            out.append(
                DurationRow(k, metric, len(vals), percentile(vals, 50), percentile(vals, 90))
            )
    return out


# ---------------------------------------------------------------------- SLA
def sla_compliance(
    conn: Connection, model: ComplaintsModel, cohort: Cohort, filters: Filters = Filters()
) -> list[SlaRow]:
    """Per top-level agency: every follow-up clock it (or one of its units) held on cohort
    complaints, started by as_of: each forwarding, and each restart of the holder's clock by
    an interim response, a dispute or a reopen.

    As of T a clock is met when it was followed up (a response while its agency was on the
    holder chain) by its due time; breached when followed up late, or due by T without a
    follow-up; withdrawn when it ended before its due time without one (declined,
    re-forwarded or resolved by the desk while still in time: neither a hit nor a miss);
    running otherwise. Compliance is met / (met + breached).
    """
    f, fw = model.facts, model.forwardings
    t = cohort.as_of
    followed = and_(fw.c.followed_up_at.is_not(None), fw.c.followed_up_at <= t)
    unanswered = or_(fw.c.followed_up_at.is_(None), fw.c.followed_up_at > t)
    ended = and_(fw.c.ended_at.is_not(None), fw.c.ended_at <= t)
    met = and_(followed, fw.c.followed_up_at <= fw.c.due_at)
    breached = or_(
        and_(followed, fw.c.followed_up_at > fw.c.due_at),
        and_(
            unanswered,
            fw.c.due_at <= t,
            or_(fw.c.ended_at.is_(None), fw.c.ended_at >= fw.c.due_at),
        ),
    )
    withdrawn = and_(unanswered, ended, fw.c.ended_at < fw.c.due_at)
    running = and_(unanswered, fw.c.due_at > t, or_(fw.c.ended_at.is_(None), fw.c.ended_at > t))
    conditions: list[ColumnElement[bool]] = [
        f.c.filed_day >= cohort.filed_from,
        f.c.filed_day <= cohort.filed_to,
        f.c.filed_at <= t,
        fw.c.forwarded_at <= t,
    ]
    for column, wanted in (
        (fw.c.top_agency, filters.agency),
        (f.c.category, filters.category),
        (f.c.channel, filters.channel),
        (f.c.kind, filters.kind),
    ):
        if wanted is not None:
            conditions.append(column == wanted)
    query = (
        select(
            fw.c.top_agency,
            func.count(),
            *(func.sum(case((c, 1), else_=0)) for c in (met, breached, running, withdrawn)),
        )
        .select_from(fw.join(f, f.c.complaint_id == fw.c.complaint_id))
        .where(and_(*conditions))
        .group_by(fw.c.top_agency)
        .order_by(fw.c.top_agency)
    )
    return [
        SlaRow(agency, int(n), *(int(v or 0) for v in counts))
        for agency, n, *counts in conn.execute(query)
    ]


def ranking(
    conn: Connection,
    model: ComplaintsModel,
    cohort: Cohort,
    filters: Filters = Filters(),
    *,
    min_sample: int = 20,
) -> list[RankingRow]:
    """Agencies by SLA compliance, best first; those with fewer than `min_sample` judged
    clocks are left out, so two lucky clocks never top the table."""
    eligible = [
        r for r in sla_compliance(conn, model, cohort, filters) if r.judged >= max(1, min_sample)
    ]
    eligible.sort(key=lambda r: (-(r.compliance or 0.0), -r.judged, r.agency))
    ranks = competition_ranks([r.compliance or 0.0 for r in eligible])
    return [
        RankingRow(rank, r.agency, r.judged, r.within_sla, r.compliance or 0.0)
        for rank, r in zip(ranks, eligible, strict=True)
    ]


def slowest(
    conn: Connection,
    model: ComplaintsModel,
    cohort: Cohort,
    filters: Filters = Filters(),
    *,
    min_sample: int = 20,
    limit: int = 10,
) -> list[SlowRow]:
    """Agencies (as of T) by median working days from first forwarding to first response,
    slowest first; agencies with fewer than `min_sample` responded complaints left out."""
    rows = cohort_rows(model, cohort, filters)
    groups: dict[str, list[int]] = defaultdict(list)
    for k, v in _duration_values(
        conn, rows, "first_response", cohort.as_of, rows.c.agency, filters
    ):
        groups[_key(k)].append(v)
    out = []
    for agency, vals in groups.items():
        if len(vals) >= max(1, min_sample):
            median, p90 = percentile(vals, 50), percentile(vals, 90)
            assert median is not None and p90 is not None
            out.append(SlowRow(agency, len(vals), median, p90))
    out.sort(key=lambda r: (-r.median, -r.p90, r.agency))
    return out[:limit]
