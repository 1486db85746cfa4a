"""`lapor-es inbox` and `lapor-es timeline`: the agency inbox and the public tracking page,
read from the projection tables (caught up in-process first unless --no-refresh)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import asdict, fields
from datetime import UTC, datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Column, Table

from lapor_es import bootstrap as boot
from lapor_es.aggregates import DomainError
from lapor_es.commands import ErrorModel
from lapor_es.config import Settings
from lapor_es.projections.core import ReadModel

app = typer.Typer(help="Agency inbox and public tracking page")


def _refresh(settings: Settings, models: list[ReadModel]) -> None:
    """Apply every stored event not yet in these models (the in-process runner)."""
    from lapor_es.readmodels.service import catch_up

    lapor = boot.open_app(settings)
    try:
        catch_up(lapor.recorder, lapor.mapper, settings, models=models)  # migrates the schema first
    finally:
        lapor.close()


def _fail(code: str, message: str) -> typer.Exit:
    error = ErrorModel(code=code, message=message, details=None).model_dump()
    typer.echo(json.dumps(error, ensure_ascii=False), err=True)
    return typer.Exit(1)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


@app.command("inbox")
def inbox(
    agency: Annotated[str, typer.Argument(help="agency code, e.g. KEMENKES")],
    units: Annotated[
        bool, typer.Option("--units/--no-units", help="include what its units hold")
    ] = True,
    state: Annotated[str | None, typer.Option("--state", help="only this state")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, json or csv")] = "table",
    refresh: Annotated[
        bool, typer.Option("--refresh/--no-refresh", help="catch the projection up first")
    ] = True,
) -> None:
    """Every complaint the agency holds now, most urgent first, with its bucket counters."""
    from lapor_es.readmodels.inbox import InboxModel, InboxRow, bucket_counts, inbox_rows

    if fmt not in ("table", "json", "csv"):
        raise _fail("validation_error", f"unknown format {fmt!r}: use table, json or csv")
    settings = boot.load_settings()
    calendar = settings.calendar
    model = InboxModel(calendar=calendar)
    if refresh:
        _refresh(settings, [model])
    engine = boot.projection_engine(settings)
    now = datetime.now(UTC)
    try:
        with engine.connect() as conn:
            rows = inbox_rows(
                conn, agency, include_units=units, now=now, calendar=calendar, state=state
            )
            counts = bucket_counts(conn, agency)
    finally:
        engine.dispose()
    records = [_jsonable(asdict(r)) for r in rows]
    if fmt == "json":
        out = {"agency": agency, "as_of": now.isoformat(), "buckets": asdict(counts)}
        typer.echo(json.dumps(out | {"complaints": records}, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        buffer = io.StringIO()
        columns = [f.name for f in fields(InboxRow)]
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(records)
        typer.echo(buffer.getvalue(), nl=False)
    else:
        console = Console()
        console.print(
            f"[bold]{agency}[/bold] inbox ({len(rows)}): "
            f"belum ditindaklanjuti {counts.terdisposisi_belum_ditindaklanjuti}, "
            f"sedang diproses {counts.terdisposisi_sedang_diproses}, "
            f"selesai {counts.terdisposisi_selesai}, "
            f"belum terverifikasi {counts.belum_terverifikasi}, "
            f"tertunda {counts.laporan_tertunda}, arsip {counts.laporan_arsip}, "
            f"diteruskan {counts.passed_on}"
        )
        # Staff copy the tracking id into `lapor-es show`: never let a narrow terminal cut it.
        tracking = Column("tracking id", no_wrap=True, min_width=16)
        table = Table(tracking, "title", "state", "holder", "path", "due", "left", "last")
        for r in rows:
            left = "" if r.working_days_left is None else str(r.working_days_left)
            table.add_row(
                r.tracking_id,
                r.title,
                r.state,
                r.holder + ("" if r.held_directly else " (unit)"),
                r.forwarding_path,
                r.due_at.isoformat() if r.due_at else "",
                left + (" OVERDUE" if r.overdue else ""),
                r.last_action + (" *reply*" if r.reply_pending else ""),
            )
        console.print(table)


@app.command("timeline")
def timeline(
    tracking_id: Annotated[str, typer.Argument(help="tracking id, e.g. LAP-2026-0000001")],
    fmt: Annotated[str, typer.Option("--format", help="table or json")] = "table",
    refresh: Annotated[
        bool, typer.Option("--refresh/--no-refresh", help="catch the projection up first")
    ] = True,
) -> None:
    """The public tracking page of a complaint (refused for confidential ones)."""
    from lapor_es.readmodels.timeline import TimelineModel, timeline_for

    if fmt not in ("table", "json"):
        raise _fail("validation_error", f"unknown format {fmt!r}: use table or json")
    settings = boot.load_settings()
    model = TimelineModel(calendar=settings.calendar)
    if refresh:
        _refresh(settings, [model])
    engine = boot.projection_engine(settings)
    try:
        with engine.connect() as conn:
            page = timeline_for(conn, tracking_id, public=True)
    except DomainError as exc:
        raise _fail(exc.code, exc.message) from exc
    finally:
        engine.dispose()
    if fmt == "json":
        typer.echo(json.dumps(_page_json(asdict(page)), ensure_ascii=False, indent=2))
        return
    console = Console()
    console.print(f"[bold]{page.tracking_id}[/bold]  {page.title}")
    console.print(f"{page.state} ({page.bucket})")
    table = Table("v", "at", "agency", "summary")
    for e in page.entries:
        table.add_row(str(e.version), e.at.isoformat(), e.agency or "", e.summary)
    console.print(table)


def _page_json(page: dict[str, Any]) -> dict[str, Any]:
    return _jsonable(page) | {"entries": [_jsonable(e) for e in page["entries"]]}
