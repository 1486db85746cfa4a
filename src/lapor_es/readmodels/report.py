"""The figures of the analysts' report (`lapor-es report`), for one cohort as of one time.

Every figure comes from `lapor_es.readmodels.stats`, so the report and `lapor-es stats`
never disagree: completion by month and by agency tier are that module's per-day and
per-agency rows summed; the backlog is its cohort rows (state as of `as_of`) by age.

An agency's tier is the directory's kind of its top-level agency (ministry, institution,
province, regency, city); the caller passes the code -> kind mapping because the directory
lives on the write side, which a read model does not import.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date

from sqlalchemy import Connection, select

from lapor_es.readmodels import stats as st
from lapor_es.readmodels.complaints import ComplaintsModel

OPEN_STATES = ("SUBMITTED", "POSTPONED", "FORWARDED", "IN_PROGRESS", "RESPONDED")
# Backlog age bands in calendar days since filing, as of the report's time: (label, up to).
AGE_BANDS: tuple[tuple[str, int | None], ...] = (
    ("0-7 days", 7),
    ("8-30 days", 30),
    ("31-90 days", 90),
    ("over 90 days", None),
)


@dataclass(frozen=True)
class BacklogRow:
    band: str
    state: str
    count: int


@dataclass(frozen=True)
class ReportData:
    cohort: st.Cohort
    by_month: list[st.CompletionRow]
    by_category: list[st.CompletionRow]
    by_tier: list[st.CompletionRow]
    sla: list[st.SlaRow]
    backlog: list[BacklogRow]
    slowest: list[st.SlowRow]


def month_of(day_key: str) -> str:
    """ "2026-02" for the per-day key "2026-02-23"."""
    return day_key[:7]


def regroup(
    rows: Iterable[st.CompletionRow], key_of: Mapping[str, str] | None, default: str
) -> list[st.CompletionRow]:
    """Sum completion rows under new keys: `key_of[row.key]` (or `default` when the mapping
    lacks it); with no mapping, the row's month."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0] * 7)
    for r in rows:
        key = month_of(r.key) if key_of is None else key_of.get(r.key, default)
        counts = (
            r.filed,
            r.verified,
            r.followed_up,
            r.resolved,
            r.archived,
            r.resolved_by_admin,
            r.merged,
        )
        sums[key] = [a + b for a, b in zip(sums[key], counts, strict=True)]
    return [st.CompletionRow(key, *values) for key, values in sorted(sums.items())]


def age_band(days: int) -> str:
    for label, upper in AGE_BANDS:
        if upper is None or days <= upper:
            return label
    raise AssertionError("the last band has no upper bound")


def backlog(
    conn: Connection, model: ComplaintsModel, cohort: st.Cohort, wib_today: date
) -> list[BacklogRow]:
    """The cohort's complaints still open as of `as_of`, by age band and state.

    Age is counted in calendar days from the WIB filing day to `wib_today` (the WIB date of
    `as_of`), as a reporter would count it; every band and open state has a row, zeros too,
    so the chart's axes do not change with the data.
    """
    rows = st.cohort_rows(model, cohort, st.Filters())
    counts: dict[tuple[str, str], int] = defaultdict(int)
    query = select(rows.c.day, rows.c.state).where(rows.c.state.in_(OPEN_STATES))
    for filed_day, state in conn.execute(query):
        counts[(age_band((wib_today - filed_day).days), state)] += 1
    return [
        BacklogRow(label, state, counts[(label, state)])
        for label, _ in AGE_BANDS
        for state in OPEN_STATES
    ]


def report_data(
    conn: Connection,
    model: ComplaintsModel,
    cohort: st.Cohort,
    tiers: Mapping[str, str],
    *,
    wib_today: date,
    min_sample: int = 20,
    limit: int = 10,
) -> ReportData:
    """Every figure of the report. `tiers` maps agency codes to their directory kind;
    `min_sample` and `limit` tune the slowest-agencies chart as in `lapor-es stats slowest`."""
    by_agency = st.completion(conn, model, cohort, by="agency")
    return ReportData(
        cohort=cohort,
        by_month=regroup(st.completion(conn, model, cohort, by="day"), None, st.NONE),
        by_category=st.completion(conn, model, cohort, by="category"),
        by_tier=regroup(by_agency, tiers, st.NONE),
        sla=st.sla_compliance(conn, model, cohort),
        backlog=backlog(conn, model, cohort, wib_today),
        slowest=st.slowest(conn, model, cohort, min_sample=min_sample, limit=limit),
    )
