"""`lapor-es notify`: tell reporters what happens to their complaints (docs/notifications.md).

`notify` consumes until caught up and sends what is due; `--follow` keeps running (stop
with SIGTERM or SIGINT); `--kafka` consumes the complaints topic as the notifier's consumer
group instead of reading the store in-process. `notify retry` makes parked messages due
again; `notify status` counts messages per status.
"""

from __future__ import annotations

import json
import signal
from typing import Annotated

import typer

from lapor_es.cli.metrics import DEFAULT_HOST, MetricsHost, MetricsPort, start_worker
from lapor_es.cli.startup import require_kafka

app = typer.Typer(invoke_without_command=True, no_args_is_help=False)


@app.callback()
def notify(
    ctx: typer.Context,
    follow: Annotated[
        bool, typer.Option("--follow/--until-caught-up", help="keep running, or one pass")
    ] = False,
    kafka: Annotated[
        bool, typer.Option("--kafka", help="consume from Kafka (LAPOR_KAFKA_BOOTSTRAP)")
    ] = False,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_HOST,
) -> None:
    """Send reporters a message on verification, postponement, responses, escalation and
    closure, by e-mail and SMS, once per event and channel."""
    if ctx.invoked_subcommand is not None:
        return
    from lapor_es import bootstrap as boot

    settings = boot.load_settings()
    if kafka and not settings.kafka_bootstrap:
        typer.echo(
            json.dumps({"ok": False, "error": "--kafka: set LAPOR_KAFKA_BOOTSTRAP"}), err=True
        )
        raise typer.Exit(2)
    channels = boot.notify_channels(settings)
    if not channels:
        typer.echo(
            json.dumps(
                {
                    "ok": False,
                    "error": "no channel configured: set LAPOR_NOTIFY_SMTP_HOST and/or "
                    "LAPOR_NOTIFY_SMS_WEBHOOK_URL",
                }
            ),
            err=True,
        )
        raise typer.Exit(2)
    if kafka:  # once running, the consumer retries for ever; at start it says so
        from lapor_es.kafka.settings import KafkaSettings

        require_kafka(KafkaSettings.from_settings(settings), "the notifier")
    start_worker("notifier", metrics_port, metrics_host)
    lapor = boot.open_app(settings)
    engine = boot.projection_engine(settings)
    try:
        service = boot.notifier(settings, lapor, engine, from_kafka=kafka, channels=channels)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: service.stop.set())
        report = service.run(follow=follow)
        counts = service.outbox.counts()
    finally:
        engine.dispose()
        lapor.close()
    typer.echo(json.dumps({"ok": True, **report.as_dict(), "statuses": counts}))


@app.command("retry")
def retry() -> None:
    """Make every parked message due again (the next `notify` pass sends it)."""
    from lapor_es import bootstrap as boot

    settings = boot.load_settings()
    lapor = boot.open_app(settings)
    engine = boot.projection_engine(settings)
    try:
        service = boot.notifier(settings, lapor, engine)
        count = service.retry_parked()
    finally:
        engine.dispose()
        lapor.close()
    typer.echo(json.dumps({"ok": True, "requeued": count}))


@app.command("status")
def status() -> None:
    """Messages per status (pending, sending, sent, skipped, parked)."""
    from lapor_es import bootstrap as boot

    settings = boot.load_settings()
    lapor = boot.open_app(settings)
    engine = boot.projection_engine(settings)
    try:
        counts = boot.notifier(settings, lapor, engine).outbox.counts()
    finally:
        engine.dispose()
        lapor.close()
    typer.echo(json.dumps({"ok": True, "statuses": counts}))
