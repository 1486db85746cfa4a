"""One statistics request, whoever asks: the CLI (`lapor-es stats`) or the HTTP door.

A request names a metric and carries the same cohort, filters and tuning for every metric;
`METRICS` says which of the optional parts each metric takes, so a caller that sends an
option the metric ignores gets an error naming it instead of a silently different answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection

from lapor_es.readmodels import stats as st
from lapor_es.readmodels.complaints import ComplaintsModel

DEFAULT_MIN_SAMPLE = 20
DEFAULT_LIMIT = 10


class MetricName(StrEnum):
    COMPLETION = "completion"
    DURATIONS = "durations"
    SLA = "sla"
    RANKING = "ranking"
    SLOWEST = "slowest"


class Option(StrEnum):
    """The optional parts of a request; the cohort and category/channel/kind always apply."""

    AGENCY = "agency"
    BY = "by"
    MIN_SAMPLE = "min_sample"
    LIMIT = "limit"


@dataclass(frozen=True)
class StatsQuery:
    cohort: st.Cohort
    filters: st.Filters = field(default_factory=st.Filters)
    by: st.Breakdown | None = None
    min_sample: int | None = None
    limit: int | None = None

    def given(self) -> set[Option]:
        """The optional parts this request actually sets."""
        values = {
            Option.AGENCY: self.filters.agency,
            Option.BY: self.by,
            Option.MIN_SAMPLE: self.min_sample,
            Option.LIMIT: self.limit,
        }
        return {option for option, value in values.items() if value is not None}


Runner = Callable[[Connection, ComplaintsModel, StatsQuery], Sequence[Any]]


@dataclass(frozen=True)
class Metric:
    title: str
    summary: str
    takes: frozenset[Option]
    run: Runner


METRICS: dict[MetricName, Metric] = {
    MetricName.COMPLETION: Metric(
        "completion",
        "Completion rate (resolved / filed), follow-up rate and the rate over verified.",
        frozenset({Option.AGENCY, Option.BY}),
        lambda c, m, q: st.completion(c, m, q.cohort, q.filters, by=q.by),
    ),
    MetricName.DURATIONS: Metric(
        "working days",
        "Working days to verification, first response and resolution (median, p90).",
        frozenset({Option.AGENCY, Option.BY}),
        lambda c, m, q: st.durations(c, m, q.cohort, q.filters, by=q.by),
    ),
    MetricName.SLA: Metric(
        "SLA compliance",
        "Per agency: every follow-up clock held (forwardings, restarts), met / (met + breached).",
        frozenset({Option.AGENCY}),
        lambda c, m, q: st.sla_compliance(c, m, q.cohort, q.filters),
    ),
    MetricName.RANKING: Metric(
        "SLA ranking",
        "Agencies ranked by SLA compliance (only those with at least min_sample judged).",
        frozenset({Option.MIN_SAMPLE}),
        lambda c, m, q: st.ranking(
            c, m, q.cohort, q.filters, min_sample=q.min_sample or DEFAULT_MIN_SAMPLE
        ),
    ),
    MetricName.SLOWEST: Metric(
        "slowest agencies",
        "The agencies slowest to a first response (median working days).",
        frozenset({Option.MIN_SAMPLE, Option.LIMIT}),
        lambda c, m, q: st.slowest(
            c,
            m,
            q.cohort,
            q.filters,
            min_sample=q.min_sample or DEFAULT_MIN_SAMPLE,
            limit=q.limit or DEFAULT_LIMIT,
        ),
    ),
}


class UnsupportedOption(ValueError):
    """A request sets an option its metric does not take."""

    def __init__(self, metric: MetricName, options: set[Option]) -> None:
        names = ", ".join(sorted(options))
        super().__init__(f"{metric} does not take {names}")
        self.metric = metric
        self.options = options


def check(metric: MetricName, query: StatsQuery) -> None:
    """Raise `UnsupportedOption` if `query` sets anything `metric` would ignore."""
    extra = query.given() - METRICS[metric].takes
    if extra:
        raise UnsupportedOption(metric, extra)


def run(conn: Connection, model: ComplaintsModel, metric: MetricName, query: StatsQuery) -> Any:
    check(metric, query)
    return METRICS[metric].run(conn, model, query)
