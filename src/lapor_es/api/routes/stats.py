"""`GET /v1/stats/{metric}`: the figures of `lapor-es stats`, with the same parameters
(readmodels/stats_query.py). An option the metric does not take is a 400 naming it."""

from __future__ import annotations

from dataclasses import asdict, is_dataclass
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from lapor_es.aggregates.values import Channel, ComplaintKind
from lapor_es.api.deps import CallerDep, DoorDep, principal_with_role
from lapor_es.api.problems import Problem
from lapor_es.auth.principals import PrincipalRole
from lapor_es.readmodels import stats as st
from lapor_es.readmodels import stats_query as sq
from lapor_es.readmodels.complaints import ComplaintsModel
from lapor_es.workflow.instants import parse_instant

router = APIRouter(prefix="/v1/stats", tags=["stats"])

RATES = (
    "completion_rate",
    "completion_rate_without_admin",
    "completion_rate_without_duplicates",
    "follow_up_rate",
    "verified_completion_rate",
    "compliance",
)


def parse_as_of(text: str | None, now: datetime) -> datetime:
    """`as_of` as `lapor-es stats --as-of` reads it (workflow.instants); default: now."""
    if text is None:
        return now
    try:
        return parse_instant(text)
    except ValueError as exc:
        raise _bad("as_of", "format", str(exc)) from exc


def _bad(field: str, rule: str, message: str) -> Problem:
    error = {"field": field, "rule": rule, "message": message}
    return Problem("validation_error", f"{field}: {message}", errors=[error])


def _record(item: Any) -> dict[str, Any]:
    assert is_dataclass(item) and not isinstance(item, type)
    record = asdict(item)
    for name in RATES:
        if hasattr(item, name):
            record[name] = getattr(item, name)
    return {k: v.isoformat() if isinstance(v, date) else v for k, v in record.items()}


@router.get("/{metric}", summary="Completion, durations, SLA compliance, ranking, slowest")
def get_stats(
    metric: sq.MetricName,
    door: DoorDep,
    caller: CallerDep,
    filed_from: Annotated[date, Query(alias="from", description="first filing day (WIB)")],
    filed_to: Annotated[date, Query(alias="to", description="last filing day, inclusive")],
    as_of: Annotated[
        str | None, Query(description="ISO time (a bare date: 00:00 WIB of it); default: now")
    ] = None,
    agency: Annotated[
        str | None, Query(description="only this top-level agency (completion, durations, sla)")
    ] = None,
    category: Annotated[str | None, Query(description="only this category")] = None,
    channel: Annotated[Channel | None, Query(description="only this channel")] = None,
    kind: Annotated[ComplaintKind | None, Query(description="only this kind")] = None,
    by: Annotated[
        st.Breakdown | None, Query(description="breakdown (completion, durations)")
    ] = None,
    min_sample: Annotated[
        int | None, Query(ge=1, description="fewest judged to rank (ranking, slowest)")
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000, description="how many (slowest)")] = None,
) -> dict[str, Any]:
    principal_with_role(caller, PrincipalRole.ANALYST, PrincipalRole.NATIONAL_ADMIN)
    try:
        cohort = st.Cohort(filed_from, filed_to, parse_as_of(as_of, door.clock()))
    except ValueError as exc:
        raise _bad("to", "order", str(exc)) from exc
    query = sq.StatsQuery(
        cohort,
        st.Filters(
            agency, category, str(channel) if channel else None, str(kind) if kind else None
        ),
        by=by,
        min_sample=min_sample,
        limit=limit,
    )
    try:
        sq.check(metric, query)
    except sq.UnsupportedOption as exc:
        errors = [
            {"field": str(o), "rule": "unsupported_option", "message": str(exc)}
            for o in sorted(exc.options)
        ]
        raise Problem("validation_error", str(exc), errors=errors) from exc
    model = ComplaintsModel(calendar=door.lapor.calendar)
    with door.read_models.connect() as conn:
        rows = sq.run(conn, model, metric, query)
    return {
        "metric": str(metric),
        "filed_from": cohort.filed_from.isoformat(),
        "filed_to": cohort.filed_to.isoformat(),
        "as_of": cohort.as_of.isoformat().replace("+00:00", "Z"),
        "rows": [_record(r) for r in rows],
    }
