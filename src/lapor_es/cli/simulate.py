"""`lapor-es simulate`: file a national year of seeded traffic through the commands."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from lapor_es import bootstrap as boot
from lapor_es.application import LaporApp
from lapor_es.cli.progress import ProgressOption, wanted
from lapor_es.simulation import PlanError, PlanParams, RunReport, mix, simulate_streamed

# The simulator touches every open complaint of the last weeks each day: keep them cached.
SIMULATION_CACHE_SIZE = 60_000


def simulate_command(
    year: Annotated[int, typer.Option(help="the year to simulate (filed and judged in it)")] = 2022,
    complaints: Annotated[
        int | None,
        typer.Option(help=f"complaints to file (default: the published {mix.YEAR_2022_FILINGS})"),
    ] = None,
    seed: Annotated[int, typer.Option(help="same seed and options, same event histories")] = 2022,
    days: Annotated[
        int,
        typer.Option(help="file over the last D days up to the 10 Dec cut-off"),
    ] = mix.FILING_DAYS,
    batch_size: Annotated[int, typer.Option(min=1, help="most commands per transaction")] = 5_000,
    progress: ProgressOption = None,
) -> None:
    """File a year of realistic LAPOR! traffic (seeded) through LaporApp commands."""
    # A million "command done" lines help no one.
    settings = boot.load_settings(log_level="warning")
    settings = settings.model_copy(
        update={"aggregate_cache_size": max(settings.aggregate_cache_size, SIMULATION_CACHE_SIZE)}
    )
    params = PlanParams(
        seed=seed, year=year, complaints=complaints or mix.YEAR_2022_FILINGS, days=days
    )
    lapor = boot.open_app(settings)
    try:
        if wanted(progress, settings):
            report = _with_progress(lapor, params, batch_size)
        else:
            report = simulate_streamed(lapor, params, batch_size=batch_size)
    except PlanError as exc:
        typer.echo(json.dumps({"ok": False, "error": str(exc)}), err=True)
        raise typer.Exit(2) from exc
    finally:
        lapor.close()
    _print_report(params, report)
    raise typer.Exit(1 if report.rejected else 0)


def _with_progress(lapor: LaporApp, params: PlanParams, batch_size: int) -> RunReport:
    columns = (
        TextColumn("[bold]simulating"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>7.0f} complaints/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True)) as bar:
        task = bar.add_task("filed", total=params.complaints, rate=0.0)

        def advance(done: int, total: int) -> None:
            elapsed = bar.tasks[task].elapsed or 0.0
            bar.update(task, completed=done, total=total, rate=done / elapsed if elapsed else 0.0)

        report = simulate_streamed(lapor, params, batch_size=batch_size, progress=advance)
    return report


def _print_report(params: PlanParams, report: RunReport) -> None:
    summary = {
        "year": params.year,
        "seed": params.seed,
        "complaints_filed": report.complaints,
        "commands": report.commands,
        "batches": report.batches,
        "rejected": sum(report.rejected.values()),
        "rejected_by_code": dict(report.rejected),
        "events_stored": report.events,
        "seconds": round(report.seconds, 1),
        "commands_per_second": round(report.commands_per_second),
        "complaints_per_second": round(report.complaints_per_second, 1),
    }
    typer.echo(json.dumps(summary))
    for line in report.rejections:
        typer.echo(f"rejected: {line}", err=True)
    y = params.year
    typer.echo(
        f"completion rate: lapor-es stats completion --from {y}-01-01 --to {y}-12-31 "
        f"--as-of {y}-12-31T23:59:59+07:00",
        err=True,
    )
