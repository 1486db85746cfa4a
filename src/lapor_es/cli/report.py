"""`lapor-es report` (one HTML page of charts) and `lapor-es export` (tables as files).

Both first catch the complaints read model up with the event store unless --no-refresh is
given, as `lapor-es stats` does; the figures and files come from lapor_es.readmodels.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from lapor_es import bootstrap as boot
from lapor_es.cli.stats import _cohort, run_stats
from lapor_es.readmodels import export as ex
from lapor_es.readmodels import report as rp
from lapor_es.readmodels import stats_query as sq

RefreshOption = Annotated[
    bool, typer.Option("--refresh/--no-refresh", help="catch the projection up first")
]


def _tiers() -> dict[str, str]:
    """Agency code -> directory kind (ministry, province, ...), from the event store."""
    lapor = boot.open_app(boot.load_settings())
    try:
        return {a.code: a.kind for a in lapor.agencies()}
    finally:
        lapor.close()


def report(
    filed_from: Annotated[str, typer.Option("--from", help="first filing day (YYYY-MM-DD, WIB)")],
    filed_to: Annotated[str, typer.Option("--to", help="last filing day, inclusive")],
    out: Annotated[Path, typer.Option("--out", help="the HTML file to write")],
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="ISO time (a bare date: 00:00 WIB of it); default: now"),
    ] = None,
    min_sample: Annotated[
        int,
        typer.Option("--min-sample", min=1, help="fewest responses for the slowest-agencies chart"),
    ] = sq.DEFAULT_MIN_SAMPLE,
    limit: Annotated[int, typer.Option(min=1, help="agencies in the slowest chart")] = 10,
    refresh: RefreshOption = True,
) -> None:
    """One self-contained HTML page of charts for the complaints filed --from..--to, as of
    --as-of: completion and follow-up rate by month, category and agency tier, SLA
    compliance, backlog ageing and the slowest agencies."""
    from lapor_es.readmodels.report_page import render  # plotly: loaded only when used
    from lapor_es.workflow import JAKARTA

    cohort = _cohort(filed_from, filed_to, as_of)
    tiers = _tiers()
    data = run_stats(
        refresh,
        lambda conn, model: rp.report_data(
            conn,
            model,
            cohort,
            tiers,
            wib_today=cohort.as_of.astimezone(JAKARTA).date(),
            min_sample=min_sample,
            limit=limit,
        ),
    )
    out.write_text(render(data), encoding="utf-8")
    typer.echo(json.dumps({"ok": True, "out": str(out)}))


def export(
    out: Annotated[Path, typer.Option("--out", help="directory to write the files into")],
    fmt: Annotated[
        ex.ExportFormat, typer.Option("--format", help="file format")
    ] = ex.ExportFormat.CSV,
    refresh: RefreshOption = True,
) -> None:
    """The analysts' tables (complaint_facts, complaint_states, complaint_forwardings) and
    views (v_complaints, v_daily_counts, ...) as one CSV or Parquet file each."""
    written = run_stats(refresh, lambda conn, model: list(ex.export(conn, model, out, fmt)))
    for path, rows in written:
        typer.echo(json.dumps({"file": str(path), "rows": rows}))
