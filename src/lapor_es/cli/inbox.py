"""`lapor-es inbox` and `lapor-es timeline`: the agency inbox and the public tracking page,
read from the projection tables (caught up in-process first unless --no-refresh)."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import fields
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.table import Column, Table

from lapor_es import bootstrap as boot
from lapor_es.aggregates import DomainError
from lapor_es.cli.formats import TableFormat, TableOrJson
from lapor_es.cli.text import named, plain, wib
from lapor_es.commands import ErrorModel
from lapor_es.config import Settings
from lapor_es.projections.core import ReadModel

if TYPE_CHECKING:
    from lapor_es.readmodels.queries import InboxPage
    from lapor_es.readmodels.service import ReadModelService
    from lapor_es.readmodels.timeline import Timeline

app = typer.Typer(help="Agency inbox and public tracking page")
MESSAGE_LIMIT = 200  # characters of an error message that quotes the caller


def _refresh(read_models: ReadModelService, models: list[ReadModel]) -> None:
    """Apply every stored event not yet in these models (the in-process runner)."""
    lapor = boot.open_app(read_models.settings)
    try:
        read_models.catch_up(lapor.recorder, lapor.mapper, models=models)  # migrates first
    finally:
        lapor.close()


def _fail(code: str, message: str) -> typer.Exit:
    error = ErrorModel(code=code, message=message, details=None).model_dump()
    typer.echo(json.dumps(error, ensure_ascii=False), err=True)
    return typer.Exit(1)


@app.command("inbox")
def inbox(
    agency: Annotated[str, typer.Argument(help="agency code, e.g. KEMENKES; LAPOR: the desk")],
    units: Annotated[
        bool, typer.Option("--units/--no-units", help="include what its units hold")
    ] = True,
    state: Annotated[str | None, typer.Option("--state", help="only this state")] = None,
    fmt: Annotated[TableFormat, typer.Option("--format", help="output format")] = TableFormat.TABLE,
    refresh: Annotated[
        bool, typer.Option("--refresh/--no-refresh", help="catch the projection up first")
    ] = True,
) -> None:
    """Every complaint the agency holds now, most urgent first, with its bucket counters.
    For LAPOR (the national desk): its work queue (unverified, postponed, escalated)."""
    from lapor_es.readmodels.complaints import ComplaintsModel
    from lapor_es.readmodels.deadlines import DeadlinesModel
    from lapor_es.readmodels.desk import NATIONAL_DESK
    from lapor_es.readmodels.inbox import InboxModel, InboxRow
    from lapor_es.readmodels.queries import inbox_page

    settings = boot.load_settings()
    calendar = settings.calendar
    desk = agency == NATIONAL_DESK
    models: list[ReadModel] = [InboxModel(calendar=calendar)]
    if desk:  # the desk's queue reads the complaints and deadlines models too
        models += [
            ComplaintsModel(calendar=calendar),
            DeadlinesModel(calendar=calendar, policy=settings.sla_policy),
        ]
    if not desk:
        _require_agency(settings, agency)
    top_level = _top_level_agencies(settings) if desk else frozenset()
    with boot.read_model_service(settings) as read_models:
        if refresh:
            _refresh(read_models, models)
        now = datetime.now(UTC)
        with read_models.engine.connect() as conn:
            page = inbox_page(
                conn,
                agency,
                now=now,
                calendar=calendar,
                policy=settings.sla_policy,
                top_level=top_level,
                include_units=units,
                state=state,
            )
    if fmt == "json":
        typer.echo(json.dumps(page.to_json(), ensure_ascii=False, indent=2))
    elif fmt == "csv":
        buffer = io.StringIO()
        columns = [f.name for f in fields(InboxRow)]
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        writer.writerows(page.to_json()["complaints"])
        typer.echo(buffer.getvalue(), nl=False)
    else:
        _print_inbox(page)


def _require_agency(settings: Settings, code: str) -> None:
    """Refuse a code the directory does not know (an empty inbox would hide the typo)."""
    lapor = boot.open_app(settings)
    try:
        lapor.agency(code)  # raises unknown_agency (or not_found)
    except DomainError as exc:
        raise _fail(exc.code, exc.message[:MESSAGE_LIMIT]) from exc  # the code is the caller's
    finally:
        lapor.close()


def _top_level_agencies(settings: Settings) -> frozenset[str]:
    """Codes of the agencies right under the desk (parent LAPOR, or none): a parent
    escalation from them reaches the desk."""
    from lapor_es.readmodels.desk import NATIONAL_DESK

    lapor = boot.open_app(settings)
    try:
        return frozenset(a.code for a in lapor.agencies() if a.parent in (None, NATIONAL_DESK))
    finally:
        lapor.close()


def _print_inbox(page: InboxPage) -> None:
    console = Console()
    counts, rows = page.buckets, page.complaints
    console.print(
        f"[bold]{plain(page.agency)}[/bold] inbox ({len(rows)}): "
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
            plain(r.tracking_id),
            plain(r.title),
            plain(r.state),
            plain(r.holder + ("" if r.held_directly else " (unit)")),
            plain(r.forwarding_path),
            wib(r.due_at),
            left + (" OVERDUE" if r.overdue else ""),
            plain(r.last_action + (" *reply*" if r.reply_pending else "")),
        )
    console.print(table)
    if page.queue:
        _print_queue(console, page)


def _print_queue(console: Console, page: InboxPage) -> None:
    console.print(f"[bold]desk queue[/bold] ({len(page.queue)}), most urgent first")
    tracking = Column("tracking id", no_wrap=True, min_width=16)
    table = Table(
        tracking, "why", "title", "state", "proposed", "holder", "due", "left", "waited (wd)"
    )
    for item in page.queue:
        left = "" if item.working_days_left is None else str(item.working_days_left)
        table.add_row(
            plain(item.tracking_id),
            plain(item.reason),
            plain(item.title),
            plain(item.state),
            plain(item.proposed_agency),
            plain(item.holder),
            wib(item.due_at),
            left + (" OVERDUE" if item.overdue else ""),
            str(item.waited_working_days),
        )
    console.print(table)


@app.command("timeline")
def timeline(
    tracking_id: Annotated[str, typer.Argument(help="tracking id, e.g. LAP-2026-0000001")],
    fmt: Annotated[TableOrJson, typer.Option("--format", help="output format")] = TableOrJson.TABLE,
    refresh: Annotated[
        bool, typer.Option("--refresh/--no-refresh", help="catch the projection up first")
    ] = True,
) -> None:
    """The public tracking page of a complaint (refused for confidential ones): times in
    WIB, agencies named, the responses and replies."""
    from lapor_es.readmodels.queries import timeline_json
    from lapor_es.readmodels.timeline import TimelineModel, timeline_for
    from lapor_es.views import agency_names

    settings = boot.load_settings()
    model = TimelineModel(calendar=settings.calendar)
    with boot.read_model_service(settings) as read_models:
        if refresh:
            _refresh(read_models, [model])
        lapor = boot.open_app(settings)  # the directory: the agencies' names
        try:
            with read_models.engine.connect() as conn:
                page = timeline_for(
                    conn, tracking_id, public=True, agency_names=agency_names(lapor)
                )
        except DomainError as exc:
            raise _fail(exc.code, exc.message) from exc
        finally:
            lapor.close()
    if fmt == "json":
        typer.echo(json.dumps(timeline_json(page), ensure_ascii=False, indent=2))
        return
    _print_timeline(page)


def _print_timeline(page: Timeline) -> None:
    console = Console()
    console.print(f"[bold]{plain(page.tracking_id)}[/bold]  {plain(page.title)}")
    console.print(f"{plain(page.state)} ({plain(page.bucket)}), dilaporkan {wib(page.filed_at)}")
    table = Table("v", Column("waktu", no_wrap=True), "instansi", "keterangan")
    for e in page.entries:
        said = plain(e.summary) + (f"\n“{plain(e.text)}”" if e.text else "")
        table.add_row(str(e.version), wib(e.at), named(e.agency, e.agency_name), said)
    console.print(table)
