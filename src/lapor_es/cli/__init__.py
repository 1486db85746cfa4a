"""The `lapor-es` command: the composition root for command-line use.

Core commands live here; each further command group is a module of this package with a
Typer `app`, registered in the block at the end of this file.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any, NoReturn, TextIO

import structlog
import typer
from eventsourcing.persistence import InterfaceError, OperationalError
from pydantic import TypeAdapter, ValidationError
from pydantic_core import ErrorDetails
from rich.console import Console
from rich.table import Column, Table

from lapor_es import bootstrap as boot
from lapor_es import commands as c
from lapor_es.aggregates import DomainError
from lapor_es.application import LaporApp
from lapor_es.cli.formats import TableFormat, TextOrJson
from lapor_es.cli.metrics import DEFAULT_HOST, MetricsHost, MetricsPort, start_worker
from lapor_es.cli.progress import ProgressOption, events_bar, wanted
from lapor_es.cli.text import named, plain, wib
from lapor_es.directory import parse_rows, read_rows
from lapor_es.views import Viewer, complaint_view

app = typer.Typer(help="lapor-es: event-sourced complaint workflow engine", no_args_is_help=True)
agencies_app = typer.Typer(help="The agency directory", no_args_is_help=True)
app.add_typer(agencies_app, name="agencies")
log = structlog.get_logger("lapor_es.cli")
EXIT_STARTUP_FAILED = 3  # a worker could not start (broker unreachable, ...)


def _open_app() -> LaporApp:
    return boot.open_app(boot.load_settings())


# ----------------------------------------------------------------------- exec
# Errors quote what the caller sent; these bounds keep a hostile line from making a huge result.
ECHO_LIMIT = 80  # characters of one quoted value (an unknown field name or command tag)
MESSAGE_LIMIT = 1_000  # characters of any error message
MAX_DETAILS = 20  # validation errors listed for one line; the rest are counted


def clip(text: str, limit: int = ECHO_LIMIT) -> str:
    """`text` cut to `limit` characters, ending in "…" when cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def error_result(line: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    error = c.ErrorModel(code=code, message=clip(message, MESSAGE_LIMIT), details=details)
    return {"ok": False, "line": line, "error": error.model_dump()}


def validation_details(exc: ValidationError) -> list[dict[str, Any]]:
    """Field paths without pydantic's union tag, e.g. "reporter.phone", and the rule broken:
    the first MAX_DETAILS errors, then one entry saying how many more there were."""
    errors = exc.errors(include_url=False, include_input=False)
    details = [_validation_detail(err) for err in errors[:MAX_DETAILS]]
    if len(errors) > MAX_DETAILS:
        more = len(errors) - MAX_DETAILS
        details.append(
            {"field": None, "rule": "too_many_errors", "message": f"and {more} more errors"}
        )
    return details


def _validation_detail(err: ErrorDetails) -> dict[str, Any]:
    loc = [clip(str(part)) for part in err["loc"]]  # an unknown field's name is the caller's
    if loc and loc[0] in c.COMMAND_NAMES:
        loc = loc[1:]
    message = err["msg"]
    tag = err.get("ctx", {}).get("tag")  # an unknown command name, quoted by pydantic
    if isinstance(tag, str):
        message = message.replace(tag, clip(tag))
    return {
        "field": ".".join(loc) or None,
        "rule": err["type"],
        "message": clip(message, MESSAGE_LIMIT),
    }


def execute_line(lapor: LaporApp, number: int, text: str) -> dict[str, Any]:
    try:
        command = c.parse_command(text)
    except ValidationError as exc:
        details = validation_details(exc)
        if exc.title == "json-invalid" or any(d["rule"] == "json_invalid" for d in details):
            return error_result(number, "validation_error", "the line is not valid JSON", details)
        summary = "; ".join(
            f"{d['field']}: {d['message']}" if d["field"] else d["message"] for d in details
        )
        return error_result(number, "validation_error", summary, details)
    try:
        outcome = lapor.handle(command)
    except DomainError as exc:
        return error_result(number, exc.code, exc.message, exc.details or None)
    except Exception as exc:  # keep going: one broken command must not lose the rest
        log.exception("command.failed", line=number, command=command.command)
        return error_result(number, "internal_error", f"{type(exc).__name__}: {exc}")
    result: dict[str, Any] = {"ok": True, "line": number}
    if command.request_id:
        result["request_id"] = command.request_id
    return result | outcome.model_dump(exclude_none=True)


UTF8_BOM = b"\xef\xbb\xbf"


def decode_line(number: int, raw: bytes) -> str | dict[str, Any]:
    """The line's text, or the error result for a line that is not UTF-8.

    Input is read as bytes and decoded line by line, so one bad byte costs one line, not
    the rest of the script (a text stream would raise mid-iteration).
    """
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        message = (
            f"line {number} is not valid UTF-8: byte 0x{raw[exc.start]:02x} "
            f"at byte offset {exc.start}"
        )
        details = [{"field": None, "rule": "utf8_invalid", "message": message}]
        return error_result(number, "validation_error", message, details)


def run_exec(lapor: LaporApp, source: Iterable[bytes], sink: TextIO) -> int:
    """One result line per non-blank input line, in order. Returns the exit status.

    `source` yields raw lines (a binary file or sys.stdin.buffer); a UTF-8 byte order mark
    at the start of the input is skipped.
    """
    failures = 0
    for number, raw in enumerate(source, start=1):
        decoded = decode_line(number, raw.removeprefix(UTF8_BOM) if number == 1 else raw)
        if isinstance(decoded, dict):
            result = decoded
        elif not (text := decoded.strip()):
            continue
        else:
            result = execute_line(lapor, number, text)
        failures += not result["ok"]
        # ASCII only: every result is one physical line, even for readers that also break
        # lines at U+2028, U+2029 or U+0085 (a request_id may hold them).
        sink.write(json.dumps(result, ensure_ascii=True) + "\n")
        sink.flush()
    return 1 if failures else 0


@app.command("exec")
def exec_command(
    file: Annotated[
        Path | None, typer.Option("--file", "-f", help="read commands from FILE, not stdin")
    ] = None,
) -> None:
    """Run JSON Lines commands (stdin); write one JSON result line per command (stdout)."""
    lapor = _open_app()
    try:
        if file is None:
            status = run_exec(lapor, sys.stdin.buffer, sys.stdout)
        else:
            with file.open("rb") as source:  # bytes: decoded per line, like stdin
                status = run_exec(lapor, source, sys.stdout)
    finally:
        lapor.close()
    raise typer.Exit(status)


# ----------------------------------------------------------------------- show
@app.command()
def show(
    ref: Annotated[str, typer.Argument(help="tracking id (LAP-2026-0000123) or complaint id")],
    fmt: Annotated[TextOrJson, typer.Option("--format", help="text or json")] = TextOrJson.TEXT,
    viewer: Annotated[
        str, typer.Option("--as", help="public, national, agency:CODE or reporter:REF")
    ] = "public",
) -> None:
    """Current state, history and SLA clock of one complaint, masked for the viewer."""
    try:
        who = Viewer.parse(viewer)
    except ValueError as exc:
        refuse("validation_error", str(exc).replace(viewer, clip(viewer)))
    try:
        ref = COMPLAINT_REF.validate_python(ref)
    except ValidationError:
        refuse("validation_error", f"not a tracking id or complaint UUID: {clip(ref)!r}")
    lapor = _open_app()
    try:
        view = complaint_view(lapor, lapor.complaint(ref), who)
    except DomainError as exc:
        refuse(exc.code, exc.message, exc.details or None)
    except (OperationalError, InterfaceError) as exc:  # the store, not the data
        refuse("internal_error", f"{type(exc).__name__}: {exc}")
    except Exception as exc:  # whatever damaged data raises: TopicError, InvalidTag, ...
        # Input was checked above, so this is what was stored: say so, without a traceback.
        log.error("show.damaged_data", complaint=ref, error=type(exc).__name__)
        refuse(
            "damaged_data",
            f"complaint {ref} cannot be read: its stored data is damaged or altered "
            f"({type(exc).__name__}); run `lapor-es audit verify --store-only`",
            {"error": type(exc).__name__},
        )
    finally:
        lapor.close()
    if fmt == "json":
        typer.echo(json.dumps(view, ensure_ascii=False, indent=2))
        return
    print_view(view)


COMPLAINT_REF: TypeAdapter[str] = TypeAdapter(c.ComplaintRef)


def refuse(code: str, message: str, details: Any = None) -> NoReturn:
    """Print the error object on stderr (the documented shape) and exit with status 1."""
    typer.echo(json.dumps(error_result(0, code, message, details)["error"]), err=True)
    raise typer.Exit(1)


def print_view(view: dict[str, Any]) -> None:
    """The text view of `show`: every stored string escaped (plain), times in WIB."""
    console = Console()
    console.print(f"[bold]{plain(view['tracking_id'])}[/bold]  {plain(view['title'])}")
    console.print(
        f"state {plain(view['state'])} ({plain(view['bucket'])}), v{view['version']}, "
        f"{plain(view['visibility'])}, "
        f"holder {named(view['holder'], view.get('holder_name')) or '-'}"
    )
    reporter = view["reporter"]  # shown_as: the name, or the phone or account it came from
    console.print(f"reporter: {plain(reporter.get('shown_as') or reporter.get('name') or '-')}")
    if view["sla"]:
        sla = view["sla"]
        console.print(
            f"SLA {plain(sla['kind'])}: due {wib(sla['due_at'])}, "
            f"{sla['working_days_left']} working days left"
            + (" [red]OVERDUE[/red]" if sla["overdue"] else "")
        )
    table = Table("v", "event", Column("at", no_wrap=True), "role", "agency")
    for entry in view["history"]:
        table.add_row(
            str(entry["version"]),
            plain(entry["event"]),
            wib(entry["at"]),
            plain(entry["role"]),
            named(entry["agency"], entry.get("agency_name")),
        )
    console.print(table)


# ----------------------------------------------------------------------- agencies
@agencies_app.command("load")
def agencies_load(
    file: Annotated[
        Path | None, typer.Argument(help="CSV or JSON directory; omit for the national default")
    ] = None,
) -> None:
    """Register (or update) agencies from a directory file. Re-loading is a no-op."""
    lapor = _open_app()
    try:
        source, rows = read_rows(file)
        known = {agency.code for agency in lapor.agencies()}
        parsed = parse_rows(rows, known)
        for err in parsed.errors:
            typer.echo(
                json.dumps(
                    {
                        "ok": False,
                        "row": err.row,
                        "code": err.code,
                        "field": err.field,
                        "error": err.message,
                    }
                ),
                err=True,
            )
        new, updated = lapor.register_agencies(parsed.commands)
    except DomainError as exc:
        typer.echo(json.dumps({"ok": False, "error": exc.message, "code": exc.code}), err=True)
        raise typer.Exit(1) from exc
    finally:
        lapor.close()
    typer.echo(
        json.dumps(
            {
                "source": source,
                "rows": len(rows),
                "registered": new,
                "updated": updated,
                "rejected": len(parsed.errors),
            }
        )
    )
    raise typer.Exit(1 if parsed.errors else 0)


AGENCY_COLUMNS = ("code", "name", "kind", "parent", "region")


@agencies_app.command("list")
def agencies_list(
    fmt: Annotated[TableFormat, typer.Option("--format", help="output format")] = TableFormat.TABLE,
    kind: Annotated[str | None, typer.Option(help="only agencies of this kind")] = None,
    parent: Annotated[str | None, typer.Option(help="only children of this code")] = None,
) -> None:
    """List the registered agencies."""
    lapor = _open_app()
    try:
        rows = [
            {"code": a.code, "name": a.name, "kind": a.kind, "parent": a.parent, "region": a.region}
            for a in lapor.agencies()
            if (kind is None or a.kind == kind) and (parent is None or a.parent == parent)
        ]
    finally:
        lapor.close()
    if fmt == "json":
        typer.echo(json.dumps(rows, ensure_ascii=False, indent=2))
    elif fmt == "csv":
        writer = csv.DictWriter(sys.stdout, fieldnames=AGENCY_COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    else:
        table = Table("code", "name", "kind", "parent", title=f"{len(rows)} agencies")
        for r in rows:
            table.add_row(plain(r["code"]), plain(r["name"]), plain(r["kind"]), plain(r["parent"]))
        Console().print(table)


# ----------------------------------------------------------------------- relay
@app.command()
def relay(
    follow: Annotated[
        bool, typer.Option("--follow/--until-caught-up", help="keep publishing new events")
    ] = True,
    bootstrap: Annotated[
        str | None, typer.Option(help="Kafka bootstrap servers (else LAPOR_KAFKA_BOOTSTRAP)")
    ] = None,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_HOST,
    progress: ProgressOption = None,
) -> None:
    """Publish every stored complaint event to Kafka, exactly once, in order per complaint.
    --until-caught-up shows a progress bar (on a terminal, unless logs are JSON)."""
    import signal

    from lapor_es.kafka.relay import Relay
    from lapor_es.kafka.settings import KafkaSettings

    lapor = _open_app()
    start_worker("relay", metrics_port, metrics_host)
    settings = lapor.settings
    servers = bootstrap or settings.kafka_bootstrap
    if not servers:
        typer.echo("no Kafka configured: set LAPOR_KAFKA_BOOTSTRAP or pass --bootstrap", err=True)
        raise typer.Exit(2)
    worker = Relay(
        lapor.recorder,
        lapor.mapper,
        KafkaSettings.from_settings(settings, bootstrap=servers),  # with the security
        batch_size=settings.relay_batch_size,
        poll_interval=settings.relay_poll_interval_ms / 1000,
    )
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: worker.stop.set())
    try:
        # A bar only for a catch-up: a follower runs for months.
        with events_bar("publishing", not follow and wanted(progress, settings)) as bar:
            worker.on_batch = bar
            stats = worker.run(follow=follow)
    finally:
        lapor.close()
    typer.echo(
        json.dumps(
            {
                "published": stats.published,
                "position": stats.position,
                "batches": stats.batches,
                "restarts": stats.restarts,
            }
        )
    )


# ----------------------------------------------------------------------- contract
contract_app = typer.Typer(help="The published event contract", no_args_is_help=True)
app.add_typer(contract_app, name="contract")


@contract_app.command("schemas")
def contract_schemas(
    directory: Annotated[
        Path, typer.Option(help="the docs' copy (the package's copy is written too)")
    ] = Path("docs/schemas"),
    check: Annotated[bool, typer.Option("--check", help="fail if they are stale")] = False,
) -> None:
    """Write (or --check) the JSON Schemas of every event payload: in the package (shipped
    in the wheel) and in docs/schemas."""
    from lapor_es.contract.schemas import schema_directories, stale_schemas, write_schemas

    homes = schema_directories(directory)
    if check:
        stale = [str(home / name) for home in homes for name in stale_schemas(home)]
        for name in stale:
            typer.echo(f"stale: {name}", err=True)
        raise typer.Exit(1 if stale else 0)
    for home in homes:
        for path in write_schemas(home):
            typer.echo(str(path))


@contract_app.command("asyncapi")
def contract_asyncapi(
    check: Annotated[bool, typer.Option("--check", help="fail if they are stale")] = False,
) -> None:
    """Write (or --check) docs/asyncapi.json and docs/asyncapi.md (run from the repository
    root): the AsyncAPI 3.0 document of every topic, and its Markdown rendering."""
    from lapor_es.contract.asyncapi_markdown import stale_documents, write_documents

    if check:
        stale = stale_documents()
        for name in stale:
            typer.echo(f"stale: {name}", err=True)
        raise typer.Exit(1 if stale else 0)
    for path in write_documents():
        typer.echo(str(path))


# ----------------------------------------------------------------------- demo
@app.command()
def demo(
    complaints: Annotated[
        int, typer.Option(min=1, help="complaints of 2022 to simulate (113989 = the whole year)")
    ] = 11_399,
) -> None:
    """The main job on the embedded store: the national directory, four sample stories, a
    simulated national year (a tenth of 2022 by default), every read model, the headlines."""
    from lapor_es.demo import run_demo

    settings = boot.load_settings(log_level="warning")  # the demo prints its own story
    lapor = boot.open_app(settings, cache_size=60_000)
    try:
        with boot.read_model_service(settings) as read_models:
            console = Console(width=max(100, Console().width))
            run_demo(lapor, read_models, console, complaints=complaints)
    finally:
        lapor.close()


# ----------------------------------------------------------------------- command groups
# One line per group module (lapor_es/cli/<group>.py, each with a Typer `app`).
# --- registrations: begin
# Imported last: the group modules use helpers defined above in this module.
from lapor_es.cli import audit, feeds, inbox, principals, project, serve, stats, timers  # noqa: E402
from lapor_es.cli import notify as notify_cli  # noqa: E402
from lapor_es.cli import report as report_cli  # noqa: E402
from lapor_es.cli import webhooks as webhooks_cli  # noqa: E402
from lapor_es.cli.simulate import simulate_command  # noqa: E402

app.command("stats")(stats.stats)
app.add_typer(audit.app, name="audit")
app.add_typer(feeds.app, name="feeds")
app.add_typer(principals.app, name="principals")  # the door's tokens
app.add_typer(inbox.app)  # `inbox`, `timeline`
app.add_typer(timers.app)  # `timers`
app.add_typer(project.app)  # `project`, `dlq`, `status`
app.command("simulate")(simulate_command)
app.command("serve")(serve.serve)  # the HTTP door
app.add_typer(notify_cli.app, name="notify")  # tell reporters (issue 10 item 19)
app.add_typer(webhooks_cli.app, name="webhooks")  # agency feeds over HTTPS (issue 12)
app.command("report")(report_cli.report)  # analysts' charts (issue 12)
app.command("export")(report_cli.export)  # analysts' tables as CSV/Parquet
# --- registrations: end


def _database_url() -> str | None:
    try:
        return boot.load_settings().database_url
    except Exception:  # settings that do not load: the failure says so elsewhere
        return None


def main() -> None:
    from lapor_es.cli.startup import database_failures
    from lapor_es.logging import StartupError

    try:
        with database_failures(_database_url):  # an unreachable database: one line too
            app()
    except StartupError as exc:  # one clear line, not a traceback (docs/operations.md)
        log.error("startup.failed", error=str(exc))
        sys.exit(EXIT_STARTUP_FAILED)
