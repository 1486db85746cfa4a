"""`lapor-es audit`: verify the topic and the store, replay as of a time, export bundles."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from lapor_es import bootstrap as boot
from lapor_es.audit import checkpoint as anchors
from lapor_es.audit import store as store_pass
from lapor_es.audit import verify as verifier
from lapor_es.audit.bundle import (
    CHECKPOINT,
    bundle_files,
    check_bundle,
    filed_between,
    histories,
    load_or_create_key,
    public_pem,
    write_bundle,
)
from lapor_es.audit.replay import Selection, replay_store, replay_topic
from lapor_es.audit.snapshots import SnapshotSource
from lapor_es.cli.formats import TextOrJson
from lapor_es.cli.progress import ProgressOption, wanted
from lapor_es.cli.text import plain
from lapor_es.config import Settings
from lapor_es.kafka.settings import KafkaSettings

app = typer.Typer(
    help="Audit: verify hash chains, replay as of a time, export", no_args_is_help=True
)

WIB = timezone(timedelta(hours=7))  # cohort dates are Jakarta calendar days
DEFAULT_KEY = Path("var/audit/signing-key.pem")
DEFAULT_CHECKPOINTS = Path("var/audit/checkpoints")


def _settings() -> Settings:
    return boot.load_settings(log_level="warning")  # the report is the output, not logs


def _kafka(settings: Settings, bootstrap: str | None, topic: str | None) -> KafkaSettings | None:
    servers = bootstrap or settings.kafka_bootstrap
    if not servers:
        return None
    kafka = KafkaSettings.from_settings(settings, bootstrap=servers)
    return replace(kafka, topic=topic or kafka.topic)


def _complaint_id(ref: str, settings: Settings) -> str:
    """A complaint UUID as given, or a tracking id's UUID in the store's own namespace (ids
    are derived per deployment: with only the topic at hand, give the UUID)."""
    if not ref.startswith("LAP-"):
        return ref
    lapor = boot.open_app(settings)
    try:
        return str(lapor.complaint_id_for(ref))
    finally:
        lapor.close()


def _when(text: str) -> datetime:
    """An ISO time; without a zone it is WIB (Jakarta), the complaint channel's clock."""
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return (moment if moment.tzinfo else moment.replace(tzinfo=WIB)).astimezone(UTC)


@contextmanager
def _progress(label: str, total: int | None, show: bool) -> Iterator[verifier.Progress]:
    """A progress bar with events/s on stderr when `show` (cli/progress.py); silent otherwise."""
    if not show:
        yield verifier._no_progress
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>9,.0f} events/s"),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=False,
    )
    with bar:
        task = bar.add_task(label, total=total, rate=0.0)

        def advance(n: int) -> None:
            bar.advance(task, n)
            t = bar.tasks[task]
            bar.update(task, rate=t.completed / t.elapsed if t.elapsed else 0.0)

        yield advance


# ----------------------------------------------------------------------- verify
@app.command()
def verify(
    topic_only: Annotated[bool, typer.Option("--topic-only", help="only the topic")] = False,
    store_only: Annotated[bool, typer.Option("--store-only", help="only the event store")] = False,
    fmt: Annotated[TextOrJson, typer.Option("--format", help="output format")] = TextOrJson.TEXT,
    bootstrap: Annotated[str | None, typer.Option(help="else LAPOR_KAFKA_BOOTSTRAP")] = None,
    topic: Annotated[str | None, typer.Option(help="else LAPOR_KAFKA_TOPIC")] = None,
    checkpoint: Annotated[
        Path | None, typer.Option(help="a signed checkpoint to hold the store's heads against")
    ] = None,
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="the checkpoint signer's key (PEM)")
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs",
            min=1,
            help="processes reading the topic (default: 1 for a small topic, else cores)",
        ),
    ] = None,
    progress_bar: ProgressOption = None,
) -> None:
    """Replay the topic from offset 0 and the store; check every chain and their agreement,
    every stored topic, tracking numbers, positions, snapshots, and a checkpoint if given.

    Exit status 1 on any finding (docs/audit.md lists them), 2 on a configuration error or
    a checkpoint that does not verify.
    """
    if topic_only and store_only:
        raise typer.BadParameter("--topic-only and --store-only exclude each other")
    anchor = None
    if checkpoint is not None:
        try:
            anchor = anchors.load(
                checkpoint.read_bytes(), public_key.read_bytes() if public_key else None
            )
        except (OSError, anchors.CheckpointError) as exc:
            typer.echo(f"checkpoint {checkpoint}: {exc}", err=True)
            raise typer.Exit(2) from exc
        for note in anchor.notes:
            typer.echo(f"note: {note}", err=True)
    settings = _settings()
    kafka = None if store_only else _kafka(settings, bootstrap, topic)
    if kafka is None and not store_only:
        typer.echo("no Kafka configured: set LAPOR_KAFKA_BOOTSTRAP, or use --store-only", err=True)
        raise typer.Exit(2)
    lapor = None if topic_only else boot.open_app(settings)
    try:
        topic_records = verifier.topic_totals(kafka) if kafka else 0
        total = topic_records + (verifier.store_total(lapor.recorder) if lapor else 0)
        with _progress("verifying", total or None, wanted(progress_bar, settings)) as progress:
            report = verifier.verify(
                kafka=kafka,
                recorder=lapor.recorder if lapor else None,
                mapper=lapor.mapper if lapor else None,
                progress=progress,
                snapshots=_snapshot_source(lapor) if lapor else None,
                checkpoint=anchor,
                jobs=verifier.jobs_for(topic_records, jobs),
            )
    except LookupError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc
    finally:
        if lapor is not None:
            lapor.close()
    if fmt == "json":
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        _print_report(report)
    raise typer.Exit(0 if report.ok else 1)


def _snapshot_source(lapor: Any) -> SnapshotSource | None:
    return SnapshotSource(lapor.snapshots, lapor.events) if lapor.snapshots else None


def _print_report(report: verifier.AuditReport) -> None:
    console = Console()
    if report.findings:
        table = Table("kind", "source", "complaint", "v", "where", "detail")
        for f in report.findings:
            row = (f.kind, f.source, f.tracking_id or f.complaint_id, f.version, f.where, f.detail)
            table.add_row(*(plain(cell) for cell in row))  # details quote stored data
        console.print(table)
    s = report.summary()
    console.print(
        f"{'OK' if report.ok else 'FAILED'}: {s['findings']} findings {s['by_kind'] or ''}; "
        f"topic {s['topic_events'] if s['topic_events'] is not None else '-'} events, "
        f"store {s['store_events'] if s['store_events'] is not None else '-'} events, "
        f"{s['not_yet_published']} not yet published; {s['seconds']} s"
    )
    for gap in report.explained_gaps:
        console.print(
            f"note: positions {gap.first}..{gap.last} absent: PostgreSQL draws positions "
            "for inserts that then roll back (a lost concurrency race); not a finding"
        )
    for numbers in report.explained_numbers:
        console.print(
            f"note: tracking numbers {numbers.first}..{numbers.last} of {numbers.year} have no "
            f"complaint: {numbers.reason}; not a finding"
        )


# ----------------------------------------------------------------------- checkpoint
def _take_checkpoint(lapor: Any, key: Any) -> anchors.Checkpoint:
    stored = store_pass.scan(
        lapor.recorder, lapor.mapper, gaps_are_findings=verifier.gaps_are_findings(lapor.recorder)
    )
    if stored.all_findings:
        typer.echo(
            f"warning: the store has {len(stored.all_findings)} findings (run `audit verify`); "
            "the checkpoint anchors it as it is",
            err=True,
        )
    return anchors.take(stored, key, source="event store", now=datetime.now(UTC))


def _signing_key(settings: Settings) -> tuple[Any, Path]:
    key, key_path, created = load_or_create_key(settings.audit_signing_key, DEFAULT_KEY)
    if created:
        typer.echo(f"generated a signing key at {key_path}; its public key:", err=True)
        typer.echo(public_pem(key).decode().strip(), err=True)
    return key, key_path


@app.command()
def checkpoint(
    out: Annotated[
        Path, typer.Option("--out", help="a .json file, or a directory for a new file")
    ] = DEFAULT_CHECKPOINTS,
    no_kafka: Annotated[bool, typer.Option("--no-kafka", help="do not publish")] = False,
    bootstrap: Annotated[str | None, typer.Option(help="else LAPOR_KAFKA_BOOTSTRAP")] = None,
) -> None:
    """Sign every chain head of the store and keep it: a file, and the Kafka topic
    lapor.audit.checkpoints.v1 when Kafka is configured. Run it periodically (cron, a
    timer): `audit verify --checkpoint FILE` then catches tails rewritten before it."""
    settings = _settings()
    key, key_path = _signing_key(settings)
    lapor = boot.open_app(settings)
    try:
        taken = _take_checkpoint(lapor, key)
    finally:
        lapor.close()
    path = out
    if out.suffix != ".json":
        out.mkdir(parents=True, exist_ok=True)
        stamp = taken.summary["taken_at"].replace(":", "").replace("-", "")
        path = out / f"checkpoint-{taken.position:012d}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(taken.to_json())
    kafka = None if no_kafka else _kafka(settings, bootstrap, None)
    if kafka is not None:
        anchors.publish(taken, kafka)
    typer.echo(
        json.dumps(
            {
                "out": str(path),
                "position": taken.position,
                "complaints": taken.summary["complaints"],
                "agencies": taken.summary["agencies"],
                "published_to": anchors.TOPIC if kafka is not None else None,
                "signing_key": str(key_path),
            }
        )
    )


# ----------------------------------------------------------------------- replay
@app.command()
def replay(
    as_of: Annotated[str, typer.Option("--as-of", help="ISO time; no zone = WIB")],
    complaint: Annotated[str | None, typer.Option(help="one complaint (tracking id or id)")] = None,
    agency: Annotated[str | None, typer.Option(help="one agency's inbox as of that time")] = None,
    from_topic: Annotated[bool, typer.Option("--from-topic", help="replay the topic")] = False,
    bootstrap: Annotated[str | None, typer.Option(help="else LAPOR_KAFKA_BOOTSTRAP")] = None,
    topic: Annotated[str | None, typer.Option(help="else LAPOR_KAFKA_TOPIC")] = None,
) -> None:
    """Every complaint's state as it was at a time, rebuilt from events only (JSON lines)."""
    settings = _settings()
    when = _when(as_of)
    selection = Selection(
        complaint_id=_complaint_id(complaint, settings) if complaint else None, agency=agency
    )
    if from_topic:
        kafka = _kafka(settings, bootstrap, topic)
        if kafka is None:
            typer.echo("no Kafka configured: set LAPOR_KAFKA_BOOTSTRAP", err=True)
            raise typer.Exit(2)
        replayed = replay_topic(kafka, when, selection)
    else:
        lapor = boot.open_app(settings)
        try:
            replayed = replay_store(
                lapor.recorder,
                lapor.mapper,
                when,
                selection,
                get_history=lapor.repository.event_store.get,
            )
        finally:
            lapor.close()
    states = replayed.selected(selection)
    for state in states:
        typer.echo(json.dumps(state.as_dict(when), ensure_ascii=False))
    if complaint and not states:
        typer.echo(f"{complaint} did not exist at {when.isoformat()}", err=True)
        raise typer.Exit(1)


# ----------------------------------------------------------------------- export
@app.command()
def export(
    out: Annotated[Path, typer.Option("--out", help="a directory, or a file ending in .zip")],
    complaint: Annotated[str | None, typer.Option(help="one complaint (tracking id or id)")] = None,
    date_from: Annotated[
        str | None, typer.Option("--from", help="cohort: filed on or after (date, WIB)")
    ] = None,
    date_to: Annotated[
        str | None, typer.Option("--to", help="... up to this date inclusive")
    ] = None,
) -> None:
    """Write complaints' full public histories as a signed bundle (check: `audit check-bundle`)."""
    if (complaint is None) == (date_from is None or date_to is None):
        raise typer.BadParameter("give either --complaint, or both --from and --to")
    settings = _settings()
    key, key_path = _signing_key(settings)
    lapor = boot.open_app(settings)
    try:
        selection: dict[str, Any]
        if complaint is not None:
            ids = [lapor.complaint_id_for(complaint)] if complaint.startswith("LAP-") else []
            if not ids:
                from uuid import UUID

                ids = [UUID(complaint)]
            selection = {"complaint": complaint}
        else:
            assert date_from is not None and date_to is not None
            start = datetime.combine(datetime.fromisoformat(date_from).date(), time(), WIB)
            end = datetime.combine(datetime.fromisoformat(date_to).date(), time(), WIB)
            end += timedelta(days=1)
            ids = filed_between(lapor.recorder, lapor.mapper, start, end)
            selection = {"filed_from": date_from, "filed_to": date_to, "timezone": "+07:00"}
        files = bundle_files(
            histories(ids, lapor.repository.event_store.get),
            key,
            source="event store",
            selection=selection,
            exported_at=datetime.now(UTC),
            attachments={CHECKPOINT: _take_checkpoint(lapor, key).to_json()},
        )
    finally:
        lapor.close()
    manifest = json.loads(files["manifest.json"])
    if complaint is not None and not manifest["complaints"]:
        typer.echo(f"no complaint {complaint}", err=True)
        raise typer.Exit(1)
    write_bundle(files, out)
    typer.echo(
        json.dumps(
            {
                "out": str(out),
                "complaints": len(manifest["complaints"]),
                "events": manifest["event_count"],
                "events_sha256": manifest["events_sha256"],
                "signing_key": str(key_path),
            }
        )
    )


@app.command("check-bundle")
def check_bundle_command(
    path: Annotated[Path, typer.Argument(help="bundle directory or .zip")],
    public_key: Annotated[
        Path | None, typer.Option("--public-key", help="the signer's public key (PEM)")
    ] = None,
) -> None:
    """Verify a bundle offline: signature, events digest, hash chains, manifest."""
    result = check_bundle(path, public_key.read_bytes() if public_key else None)
    for note in result.notes:
        typer.echo(f"note: {note}", err=True)
    for problem in result.problems:
        typer.echo(f"FAIL: {problem}")
    if result.ok:
        typer.echo(f"OK: {result.complaints} complaints, {result.events} events, signature valid")
    raise typer.Exit(0 if result.ok else 1)
