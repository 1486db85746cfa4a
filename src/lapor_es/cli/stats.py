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
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Connection

from lapor_es import bootstrap as boot
from lapor_es.readmodels import stats as st
from lapor_es.readmodels.complaints import ComplaintsModel

app = typer.Typer(help="Completion rate, durations and SLA compliance", no_args_is_help=True)

T = TypeVar("T")

FromOpt = Annotated[str, typer.Option("--from", help="first filing day (YYYY-MM-DD, WIB)")]
ToOpt = Annotated[str, typer.Option("--to", help="last filing day, inclusive")]
AsOfOpt = Annotated[
    str | None,
    typer.Option("--as-of", help="ISO time (a bare date: 00:00 WIB of it); default: now"),
]
AgencyOpt = Annotated[str | None, typer.Option(help="only this top-level agency")]
CategoryOpt = Annotated[str | None, typer.Option(help="only this category")]
ChannelOpt = Annotated[str | None, typer.Option(help="only this channel")]
KindOpt = Annotated[str | None, typer.Option(help="only this kind")]
FormatOpt = Annotated[str, typer.Option("--format", help="table, json or csv")]
RefreshOpt = Annotated[
    bool, typer.Option("--refresh/--no-refresh", help="catch the projection up first")
]
ByOpt = Annotated[str | None, typer.Option("--by", help="day, agency, category, channel or kind")]
MinSampleOpt = Annotated[int, typer.Option("--min-sample", min=1, help="fewest judged to rank")]


def parse_as_of(text: str | None) -> datetime:
    """An ISO date-time (naive: UTC) or a date (its 00:00 WIB, the end of the day before)."""
    from lapor_es.workflow import JAKARTA

    if text is None:
        return datetime.now(UTC)
    if len(text) == 10:
        day = date.fromisoformat(text)
        return datetime(day.year, day.month, day.day, tzinfo=JAKARTA).astimezone(UTC)
    value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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
    from lapor_es.readmodels.service import catch_up

    settings = boot.load_settings()
    engine = boot.projection_engine(settings)
    model = ComplaintsModel(calendar=settings.calendar)
    try:
        if refresh:
            lapor = boot.open_app(settings)
            try:
                catch_up(
                    lapor.recorder, lapor.mapper, settings, ("complaints",)
                )  # migrates the schema first
            finally:
                lapor.close()
        with engine.connect() as conn:
            return query(conn, model)
    finally:
        engine.dispose()


def _record(item: Any) -> dict[str, Any]:
    """A dataclass row with its computed rates, ready for output."""
    assert is_dataclass(item) and not isinstance(item, type)
    record = asdict(item)
    for name in ("completion_rate", "follow_up_rate", "verified_completion_rate", "compliance"):
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
    return str(value)


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "json", "csv"):
        _fail("--format must be table, json or csv")


@app.command()
def completion(
    filed_from: FromOpt,
    filed_to: ToOpt,
    as_of: AsOfOpt = None,
    agency: AgencyOpt = None,
    category: CategoryOpt = None,
    channel: ChannelOpt = None,
    kind: KindOpt = None,
    by: ByOpt = None,
    fmt: FormatOpt = "table",
    refresh: RefreshOpt = True,
) -> None:
    """Completion rate (resolved / filed), follow-up rate and the rate over verified."""
    _check_format(fmt)
    cohort, key = _cohort(filed_from, filed_to, as_of), _breakdown(by)
    filters = st.Filters(agency, category, channel, kind)
    rows = run_stats(refresh, lambda c, m: st.completion(c, m, cohort, filters, by=key))
    emit(rows, fmt, cohort, "completion")


@app.command()
def durations(
    filed_from: FromOpt,
    filed_to: ToOpt,
    as_of: AsOfOpt = None,
    agency: AgencyOpt = None,
    category: CategoryOpt = None,
    channel: ChannelOpt = None,
    kind: KindOpt = None,
    by: ByOpt = None,
    fmt: FormatOpt = "table",
    refresh: RefreshOpt = True,
) -> None:
    """Working days to verification, first response and resolution (median, p90)."""
    _check_format(fmt)
    cohort, key = _cohort(filed_from, filed_to, as_of), _breakdown(by)
    filters = st.Filters(agency, category, channel, kind)
    rows = run_stats(refresh, lambda c, m: st.durations(c, m, cohort, filters, by=key))
    emit(rows, fmt, cohort, "working days")


@app.command()
def sla(
    filed_from: FromOpt,
    filed_to: ToOpt,
    as_of: AsOfOpt = None,
    agency: AgencyOpt = None,
    category: CategoryOpt = None,
    channel: ChannelOpt = None,
    kind: KindOpt = None,
    fmt: FormatOpt = "table",
    refresh: RefreshOpt = True,
) -> None:
    """Per agency: forwardings followed up within their due time, among those judged."""
    _check_format(fmt)
    cohort = _cohort(filed_from, filed_to, as_of)
    filters = st.Filters(agency, category, channel, kind)
    rows = run_stats(refresh, lambda c, m: st.sla_compliance(c, m, cohort, filters))
    emit(rows, fmt, cohort, "SLA compliance")


@app.command("ranking")
def ranking_command(
    filed_from: FromOpt,
    filed_to: ToOpt,
    as_of: AsOfOpt = None,
    category: CategoryOpt = None,
    channel: ChannelOpt = None,
    kind: KindOpt = None,
    min_sample: MinSampleOpt = 20,
    fmt: FormatOpt = "table",
    refresh: RefreshOpt = True,
) -> None:
    """Agencies ranked by SLA compliance (only those with at least --min-sample judged)."""
    _check_format(fmt)
    cohort = _cohort(filed_from, filed_to, as_of)
    filters = st.Filters(None, category, channel, kind)
    rows = run_stats(refresh, lambda c, m: st.ranking(c, m, cohort, filters, min_sample=min_sample))
    emit(rows, fmt, cohort, "SLA ranking")


@app.command("slowest")
def slowest_command(
    filed_from: FromOpt,
    filed_to: ToOpt,
    as_of: AsOfOpt = None,
    category: CategoryOpt = None,
    channel: ChannelOpt = None,
    kind: KindOpt = None,
    min_sample: MinSampleOpt = 20,
    limit: Annotated[int, typer.Option(min=1, help="how many agencies")] = 10,
    fmt: FormatOpt = "table",
    refresh: RefreshOpt = True,
) -> None:
    """The agencies slowest to a first response (median working days)."""
    _check_format(fmt)
    cohort = _cohort(filed_from, filed_to, as_of)
    filters = st.Filters(None, category, channel, kind)
    rows = run_stats(
        refresh,
        lambda c, m: st.slowest(c, m, cohort, filters, min_sample=min_sample, limit=limit),
    )
    emit(rows, fmt, cohort, "slowest agencies")
