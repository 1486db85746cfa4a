"""`lapor-es webhooks`: deliver agency feeds to their registered endpoints (docs/webhooks.md).

`deliver` queues every subscribed feed until caught up and sends what is due; `--follow`
keeps running (stop with SIGTERM or SIGINT). `replay` makes parked records due again.
`list` shows the endpoints with their deliveries per status; `log` the attempts of one;
`new-key` prints a fresh LAPOR_WEBHOOKS_SECRET_KEY.
"""

from __future__ import annotations

import json
import signal
from typing import Annotated, NoReturn

import typer

from lapor_es import bootstrap as boot
from lapor_es.cli.feeds import Bootstrap, feed_settings
from lapor_es.cli.metrics import DEFAULT_HOST, MetricsHost, MetricsPort, start_worker
from lapor_es.cli.startup import require_kafka

app = typer.Typer(help="Agency feeds delivered to HTTPS endpoints", no_args_is_help=True)


def _fail(error: str) -> NoReturn:
    typer.echo(json.dumps({"ok": False, "error": error}), err=True)
    raise typer.Exit(2)


@app.command()
def deliver(
    follow: Annotated[
        bool, typer.Option("--follow/--until-caught-up", help="keep running, or one pass")
    ] = False,
    bootstrap: Bootstrap = None,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_HOST,
) -> None:
    """Send every subscribed agency feed to its endpoints: signed CloudEvents, in order per
    complaint, retried with backoff, parked after LAPOR_WEBHOOKS_MAX_ATTEMPTS."""
    from lapor_es.application import utc_now
    from lapor_es.feeds.webhooks import WebhookWorker

    settings = boot.load_settings()
    if settings.webhooks_secret_key is None:
        _fail("webhooks are off: set LAPOR_WEBHOOKS_SECRET_KEY (lapor-es webhooks new-key)")
    feeds = feed_settings(bootstrap)
    require_kafka(feeds, "the webhook sender")  # the consumer retries for ever once running
    store = boot.webhook_store(settings)
    try:
        try:  # every secret must open now, not at its first delivery
            store.endpoints(s.id for s in store.active())
        except ValueError as exc:
            _fail(str(exc))
        start_worker("webhooks", metrics_port, metrics_host)
        worker = WebhookWorker(feeds, store, boot.webhook_policy(settings), clock=utc_now)
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: worker.stop.set())
        report = worker.run(follow=follow)
        counts = store.counts()
    finally:
        store.engine.dispose()
    typer.echo(json.dumps({"ok": True, **report.as_dict(), "statuses": counts}))


@app.command()
def replay(
    subscription: Annotated[str | None, typer.Option(help="only this endpoint (wh_...)")] = None,
    complaint: Annotated[str | None, typer.Option(help="only this complaint id")] = None,
) -> None:
    """Make parked records due again, with a fresh count of attempts (the worker sends
    them, in order, on its next pass)."""
    from lapor_es.application import utc_now

    settings = boot.load_settings()
    store = boot.webhook_store(settings)
    try:
        count = store.replay(utc_now(), subscription_id=subscription, complaint_id=complaint)
    finally:
        store.engine.dispose()
    typer.echo(json.dumps({"ok": True, "requeued": count}))


@app.command("list")
def list_endpoints(
    agency: Annotated[str | None, typer.Option(help="only this agency's endpoints")] = None,
) -> None:
    """Active endpoints as JSON lines, with their deliveries per status."""
    settings = boot.load_settings()
    store = boot.webhook_store(settings)
    try:
        for subscription in store.active(agency):
            line = subscription.to_json() | {"deliveries": store.counts(subscription.id)}
            typer.echo(json.dumps(line))
    finally:
        store.engine.dispose()


@app.command("log")
def show_log(
    subscription: Annotated[str, typer.Argument(help="the endpoint (wh_...)")],
) -> None:
    """Every attempt to one endpoint as JSON lines: ce_id, attempt, status code, latency,
    error."""
    settings = boot.load_settings()
    store = boot.webhook_store(settings)
    try:
        for row in store.log(subscription):
            typer.echo(json.dumps(row | {"at": row["at"].isoformat()}))
    finally:
        store.engine.dispose()


@app.command("new-key")
def new_key() -> None:
    """A fresh value for LAPOR_WEBHOOKS_SECRET_KEY (keep it out of the database and of
    version control; losing it means every agency registers its endpoints again)."""
    from lapor_es.feeds.webhook_signing import new_key as make_key

    typer.echo(make_key())
