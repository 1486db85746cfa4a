"""`lapor-es stats`: completion, durations and SLA figures for a cohort, as of a time.

Each command first catches the complaints read model up with the event store (in-process,
exactly once) unless --no-refresh is given, e.g. when a Kafka projector keeps it current.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, is_dataclass
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection

from lapor_es import bootstrap as boot
from lapor_es.cli.text import plain
from lapor_es.readmodels import stats as st
from lapor_es.readmodels import stats_query as sq
from lapor_es.readmodels.complaints import ComplaintsModel
from lapor_es.readmodels.stats_query import MetricName
from lapor_es.workflow.instants import parse_instant

T = TypeVar("T")


def parse_as_of(text: str | None) -> datetime:
    """--as-of as every command reads a time (workflow.instants); default: now."""
    return datetime.now(UTC) if text is None else parse_instant(text)


def _fail(message: str) -> None:
    typer.echo(json.dumps({"ok": False, "error": message}), err=True)
    raise typer.Exit(2)


def _cohort(filed_from: str, filed_to: str, as_of: str | None) -> st.Cohort:
    try:
        return st.Cohort(
            date.fromisoformat(filed_from), date.fromisoformat(filed_to), parse_as_of(as_of)
        )
    except ValueError as exc:
        _fail(str(exc))
        raise  # unreachable: _fail exits


def _breakdown(by: str | None) -> st.Breakdown | None:
    if by is None:
        return None
    for name in st.BREAKDOWNS:
        if name == by:
            return name
    _fail(f"--by must be one of {', '.join(st.BREAKDOWNS)}")
    return None


def run_stats(refresh: bool, query: Callable[[Connection, ComplaintsModel], T]) -> T:
    """Catch the projection up (unless told not to), then run `query` on it."""
    settings = boot.load_settings()
    model = ComplaintsModel(calendar=settings.calendar)
    with boot.read_model_service(settings) as read_models:
        if refresh:
            lapor = boot.open_app(settings)
            try:  # migrates the schema first
                read_models.catch_up(lapor.recorder, lapor.mapper, ("complaints",))
            finally:
                lapor.close()
        with read_models.engine.connect() as conn:
            return query(conn, model)


def _record(item: Any) -> dict[str, Any]:
    """A dataclass row with its computed rates, ready for output."""
    assert is_dataclass(item) and not isinstance(item, type)
    record = asdict(item)
    for name in (
        "completion_rate",
        "completion_rate_without_admin",
        "completion_rate_without_duplicates",
        "follow_up_rate",
        "verified_completion_rate",
        "compliance",
    ):
        if hasattr(item, name):
            record[name] = getattr(item, name)
    return record


def emit(rows: Sequence[Any], fmt: str, cohort: st.Cohort, title: str) -> None:
    records = [_record(r) for r in rows]
    if fmt == "json":
        typer.echo(
            json.dumps(
                {
                    "filed_from": cohort.filed_from.isoformat(),
                    "filed_to": cohort.filed_to.isoformat(),
                    "as_of": cohort.as_of.isoformat().replace("+00:00", "Z"),
                    "rows": records,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
        return
    columns = list(records[0]) if records else []
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        typer.echo(buffer.getvalue(), nl=False)
        return
    table = Table(
        *columns,
        title=f"{title}: filed {cohort.filed_from}..{cohort.filed_to}, as of "
        f"{cohort.as_of.isoformat()}",
    )
    for r in records:
        table.add_row(*(_cell(v) for v in r.values()))
    Console().print(table)


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.2%}"
    return plain(value)  # agency names and categories are text, not Rich markup


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"


def stats(
    metric: Annotated[MetricName, typer.Argument(help="which figure")],
    filed_from: Annotated[str, typer.Option("--from", help="first filing day (YYYY-MM-DD, WIB)")],
    filed_to: Annotated[str, typer.Option("--to", help="last filing day, inclusive")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="ISO time (a bare date: 00:00 WIB of it); default: now"),
    ] = None,
    agency: Annotated[
        str | None, typer.Option(help="only this top-level agency (completion, durations, sla)")
    ] = None,
    category: Annotated[str | None, typer.Option(help="only this category")] = None,
    channel: Annotated[str | None, typer.Option(help="only this channel")] = None,
    kind: Annotated[str | None, typer.Option(help="only this kind")] = None,
    by: Annotated[
        str | None,
        typer.Option("--by", help="day, agency, category, channel or kind (completion, durations)"),
    ] = None,
    min_sample: Annotated[
        int | None,
        typer.Option(
            "--min-sample",
            min=1,
            help=f"fewest judged to rank (ranking, slowest; default {sq.DEFAULT_MIN_SAMPLE})",
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(min=1, help=f"how many agencies (slowest; default {sq.DEFAULT_LIMIT})"),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="output format")] = Format.TABLE,
    refresh: Annotated[
        bool, typer.Option("--refresh/--no-refresh", help="catch the projection up first")
    ] = True,
) -> None:
    """Completion, durations, SLA compliance, SLA ranking or the slowest agencies, for the
    complaints filed --from..--to, as of --as-of.

    completion: resolved / filed, follow-up rate and the rate over verified.
    durations: working days to verification, first response and resolution (median, p90).
    sla: per agency, every follow-up clock held: met / (met + breached), with the counts.
    ranking: agencies by SLA compliance (at least --min-sample judged).
    slowest: the agencies slowest to a first response (median working days).
    """
    query = sq.StatsQuery(
        _cohort(filed_from, filed_to, as_of),
        st.Filters(agency, category, channel, kind),
        by=_breakdown(by),
        min_sample=min_sample,
        limit=limit,
    )
    try:
        sq.check(metric, query)
    except sq.UnsupportedOption as exc:
        _fail(f"{exc}; see lapor-es stats --help")
    rows = run_stats(refresh, lambda c, m: sq.run(c, m, metric, query))
    emit(rows, fmt, query.cohort, sq.METRICS[metric].title)
