"""`lapor-es project`, `lapor-es dlq` and `lapor-es status`: running and watching read models."""

from __future__ import annotations

import json
import signal
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from lapor_es import bootstrap as boot
from lapor_es.cli.formats import TableOrJson
from lapor_es.cli.metrics import DEFAULT_HOST, MetricsHost, MetricsPort, start_worker
from lapor_es.cli.progress import ProgressOption, events_bar, wanted
from lapor_es.cli.startup import require_kafka
from lapor_es.cli.text import plain
from lapor_es.config import Settings
from lapor_es.readmodels.registry import MODEL_NAMES

app = typer.Typer()
project_app = typer.Typer(help="Run the read models (projections)")
migrations_app = typer.Typer(
    help="Schema migrations of the projection tables", no_args_is_help=True
)
dlq_app = typer.Typer(
    help="Dead letters: events a read model could not apply", no_args_is_help=True
)
app.add_typer(project_app, name="project")
app.add_typer(dlq_app, name="dlq")
project_app.add_typer(migrations_app, name="migrations")


def _settings() -> Settings:
    return boot.load_settings()


def _names(only: list[str] | None) -> tuple[str, ...]:
    names = tuple(only or MODEL_NAMES)
    unknown = sorted(set(names) - set(MODEL_NAMES))
    if unknown:
        typer.echo(f"unknown read model(s): {', '.join(unknown)}; known: {MODEL_NAMES}", err=True)
        raise typer.Exit(2)
    return names


def _stop_on_signals() -> threading.Event:
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    return stop


# ----------------------------------------------------------------------- project
@project_app.callback(invoke_without_command=True)
def project(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow/--until-caught-up", help="keep applying new events")
    ] = False,
    from_kafka: Annotated[
        bool,
        typer.Option(
            "--from-kafka/--local",
            help="consume the Kafka topic as a consumer group member, or read the store",
        ),
    ] = False,
    group_id: Annotated[
        str, typer.Option("--group-id", help="consumer group; members share partitions")
    ] = "lapor-es-projector",
    only: Annotated[
        list[str] | None, typer.Option("--only", help="only this read model (repeatable)")
    ] = None,
    rebuild: Annotated[
        str | None,
        typer.Option("--rebuild", help="rebuild this read model from offset 0, then swap it in"),
    ] = None,
    idle_timeout: Annotated[
        float, typer.Option(help="--from-kafka --until-caught-up: stop after this idle time (s)")
    ] = 5.0,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_HOST,
    progress: ProgressOption = None,
) -> None:
    """Apply stored events to the read models: in-process from the store (default) or from
    Kafka. Exactly once: each batch and its tracking commit in one SQL transaction.
    --until-caught-up shows a progress bar (on a terminal, unless logs are JSON)."""
    if ctx.invoked_subcommand is not None:
        return
    settings = _settings()
    if from_kafka and not settings.kafka_bootstrap:
        typer.echo("--from-kafka needs LAPOR_KAFKA_BOOTSTRAP", err=True)
        raise typer.Exit(2)
    if rebuild is not None:
        _rebuild(settings, _names([rebuild])[0], from_kafka)
        return
    names = _names(only)
    if from_kafka:  # once running, the consumer retries for ever; at start it says so
        from lapor_es.kafka.settings import KafkaSettings

        require_kafka(KafkaSettings.from_settings(settings), "the projector")
    stop = _stop_on_signals()
    start_worker("projector", metrics_port, metrics_host)
    show = not follow and wanted(progress, settings)  # a follower runs for months: no bar
    with boot.read_model_service(settings) as read_models, events_bar("projecting", show) as bar:
        if from_kafka:
            stats = read_models.run_projector(
                group_id,
                follow,
                names=names,
                stop=stop,
                idle_timeout=idle_timeout,
                progress=bar,
            )
            source = settings.kafka_topic
        else:
            lapor = boot.open_app(settings)
            try:
                stats = read_models.catch_up(
                    lapor.recorder, lapor.mapper, names, follow=follow, stop=stop, progress=bar
                )
            finally:
                lapor.close()
            source = "store"
    typer.echo(
        json.dumps(
            {
                "source": source,
                "models": list(names),
                "events": stats.events,
                "applied": stats.applied,
                "duplicates": stats.duplicates,
                "parked": stats.parked,
                "batches": stats.batches,
            }
        )
    )


def _rebuild(settings: Settings, name: str, from_kafka: bool) -> None:
    from lapor_es.kafka.settings import KafkaSettings
    from lapor_es.projections import rebuild as rb

    lapor = boot.open_app(settings)
    try:
        feed: rb.StoreFeed | rb.TopicFeed
        if from_kafka:
            feed = rb.TopicFeed(
                KafkaSettings.from_settings(settings), settings.projector_batch_size
            )
        else:
            feed = rb.StoreFeed(lapor.recorder, lapor.mapper, settings.projector_batch_size)
        try:
            with boot.read_model_service(settings) as read_models:
                if wanted(None, settings):  # a terminal, unless logs are JSON
                    with rb.ProgressBar(f"rebuild {name}") as bar:
                        result = read_models.rebuild(name, feed, advance=bar)
                else:
                    result = read_models.rebuild(name, feed)
        except rb.RebuildBehindError as exc:
            typer.echo(str(exc), err=True)
            raise typer.Exit(1) from exc
    finally:
        lapor.close()
    typer.echo(
        json.dumps(
            {
                "rebuilt": result.name,
                "source": result.source,
                "events": result.events,
                "applied": result.applied,
                "parked": result.parked,
                "events_during_swap": result.final_events,
                "seconds": round(result.seconds, 3),
            }
        )
    )


# ----------------------------------------------------------------------- migrations
@migrations_app.command("upgrade")
def migrations_upgrade() -> None:
    """Upgrade the read-model database to the newest revision (projectors do this on start)."""
    from lapor_es.readmodels import migrations

    with boot.read_model_service(_settings()) as read_models:
        migrations.prepare(read_models.engine, read_models.models())
        with read_models.engine.connect() as conn:
            typer.echo(json.dumps({"revision": migrations.current_revision(conn)}))


@migrations_app.command("check")
def migrations_check(
    url: Annotated[
        str | None, typer.Option(help="database to check (default: a throwaway SQLite file)")
    ] = None,
) -> None:
    """Fail if the read models' tables differ from what the migrations create."""
    from lapor_es.readmodels import migrations

    with _scratch_engine(url) as engine:
        migrations.migrate(engine)
        changes = migrations.pending_changes(engine)
    for change in changes:
        typer.echo(f"not in any migration: {change}", err=True)
    if changes:
        typer.echo('add one: lapor-es project migrations new -m "what changed"', err=True)
    raise typer.Exit(1 if changes else 0)


@migrations_app.command("new")
def migrations_new(
    message: Annotated[str, typer.Option("-m", "--message", help="what the change does")],
    url: Annotated[
        str | None, typer.Option(help="database to compare with (default: a throwaway SQLite)")
    ] = None,
) -> None:
    """Autogenerate the next revision from the models' changes; review it, then commit it."""
    from lapor_es.readmodels import migrations

    with _scratch_engine(url) as engine:
        migrations.migrate(engine)
        if not migrations.pending_changes(engine):
            typer.echo("no changes: the migrations already match the models", err=True)
            raise typer.Exit(1)
        path = migrations.new_revision(engine, message)
    typer.echo(str(path))


@contextmanager
def _scratch_engine(url: str | None) -> Iterator[Engine]:
    """An engine on `url`, or on a temporary SQLite file deleted afterwards: comparing
    against an empty database migrated to head needs no real database at all."""

    with tempfile.TemporaryDirectory() as tmp:
        engine = boot.projection_engine_at(url or f"sqlite:///{Path(tmp) / 'scratch.sqlite3'}")
        try:
            yield engine
        finally:
            engine.dispose()


# ----------------------------------------------------------------------- dlq
@dlq_app.command("list")
def dlq_list(
    projection: Annotated[str | None, typer.Option(help="only this read model")] = None,
    fmt: Annotated[TableOrJson, typer.Option("--format", help="output format")] = TableOrJson.TABLE,
) -> None:
    """Open dead letters, oldest first per complaint."""
    with boot.read_model_service(_settings()) as read_models:
        rows = read_models.open_dead_letters(projection)
    if fmt == "json":
        typer.echo(json.dumps([_jsonable(r) for r in rows], ensure_ascii=False, indent=2))
        return
    table = Table(
        "id",
        "projection",
        "complaint",
        "v",
        "event",
        "source",
        "partition",
        "offset",
        "error",
        title=f"{len(rows)} open dead letters",
    )
    for r in rows:
        table.add_row(*(plain(r[k]) for k in DLQ_COLUMNS))
    Console().print(table)


DLQ_COLUMNS = (
    "id",
    "projection",
    "complaint_id",
    "version",
    "event_type",
    "source",
    "partition",
    "offset",
    "error",
)


@dlq_app.command("retry")
def dlq_retry(
    projection: Annotated[str | None, typer.Option(help="only this read model")] = None,
) -> None:
    """Re-apply the parked events (once their cause is fixed), in version order."""
    names = _names([projection] if projection else None)
    with boot.read_model_service(_settings()) as read_models:
        result = read_models.retry_dead_letters(names)
        left = len(read_models.open_dead_letters(projection))
    typer.echo(
        json.dumps(
            {
                "applied": result.applied,
                "duplicates": result.duplicates,
                "parked_again": result.parked,
                "undecodable": result.skipped,
                "open": left,
            }
        )
    )
    raise typer.Exit(1 if left else 0)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v.isoformat() if isinstance(v, datetime) else v for k, v in row.items()}


# ----------------------------------------------------------------------- status
@app.command("status")
def status(
    fmt: Annotated[TableOrJson, typer.Option("--format", help="output format")] = TableOrJson.TABLE,
    group_id: Annotated[
        str, typer.Option("--group-id", help="consumer group whose lag to show")
    ] = "lapor-es-projector",
) -> None:
    """Projection positions and lag, relay position vs store head, consumer group lag."""
    settings = _settings()
    lapor = boot.open_app(settings)
    try:
        with boot.read_model_service(settings) as read_models:
            report = read_models.status(recorder=lapor.recorder, group_id=group_id)
    finally:
        lapor.close()
    if fmt == "json":
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    console = Console()
    schema = report["schema"]
    console.print(
        f"read models: {plain(report['read_model_database'])}  schema {schema['revision']} "
        f"(code: {schema['head']})  store head {report['store_head']}"
    )
    if report.get("relay"):
        console.print(
            f"relay: position {report['relay']['position']}, "
            f"{report['relay']['behind_store']} behind the store head"
        )
    table = Table("projection", "source", "partition", "offset", "lag", "updated", "dead letters")
    for row in report["projections"]:
        lag = "-" if row["lag"] is None else f"{row['lag']} {row['lag_unit']}"
        table.add_row(
            row["projection"],
            row["source"],
            str(row["partition"]),
            str(row["offset"]),
            lag,
            row["updated_at"],
            str(report["dead_letters"].get(row["projection"], 0)),
        )
    console.print(table)
    topic = report.get("topic")
    if topic and topic.get("exists"):
        parts = Table(
            "partition", "end offset", "group committed", "group lag", title=topic["name"]
        )
        for p in topic["partitions"]:
            parts.add_row(
                str(p["partition"]),
                str(p["end_offset"]),
                "-" if p["group_committed"] is None else str(p["group_committed"]),
                "-" if p["group_lag"] is None else f"{p['group_lag']} {p['group_lag_unit']}",
            )
        console.print(parts)
