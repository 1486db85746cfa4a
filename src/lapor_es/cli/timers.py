"""`lapor-es timers`: the SLA timer service (warnings, breaches, escalations, auto-closure).

One pass by default (`--once`, e.g. from cron); `--follow` keeps running, waking at the next
due time, at the poll interval, or as soon as new events are stored. `--now` fixes the
service's clock for drills and tests. It is read as every command reads a time
(workflow.instants: a bare date is 00:00 WIB of that day), and it must not be in the future:
the engine refuses commands dated ahead of real time, so a later --now is refused up front in
one line instead of failing on the first due step.
"""

from __future__ import annotations

import json
import signal
from datetime import UTC, datetime
from typing import Annotated

import typer

from lapor_es.cli.metrics import DEFAULT_HOST, MetricsHost, MetricsPort, start_worker
from lapor_es.workflow.instants import parse_instant

app = typer.Typer()


def parse_now(text: str, *, real_now: datetime) -> datetime:
    """--now as every command reads a time; ValueError if it is later than `real_now`."""
    value = parse_instant(text)
    if value > real_now:
        raise ValueError(
            f"{value.isoformat()} is in the future (now {real_now.isoformat(timespec='seconds')}):"
            " the timers act at real time or before, never ahead of it"
        )
    return value


@app.command("timers")
def timers(
    follow: Annotated[
        bool, typer.Option("--follow/--once", help="keep running, or make one pass and exit")
    ] = False,
    now: Annotated[
        str | None, typer.Option("--now", help="ISO time to act at (drills); default: real time")
    ] = None,
    external_projection: Annotated[
        bool,
        typer.Option(
            "--external-projection",
            help="do not project deadlines in-process: a Kafka projector keeps them current",
        ),
    ] = False,
    poll_interval: Annotated[
        float, typer.Option(min=0.1, help="longest sleep between passes, seconds")
    ] = 60.0,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_HOST,
) -> None:
    """Issue every due SLA ladder step (warn, breach + escalate, national, auto-close)."""
    from lapor_es import bootstrap as boot
    from lapor_es.readmodels.deadlines import DeadlinesModel
    from lapor_es.readmodels.migrations import prepare
    from lapor_es.timers import TimerService

    try:
        fixed = parse_now(now, real_now=datetime.now(UTC)) if now else None
    except ValueError as exc:
        typer.echo(json.dumps({"ok": False, "error": f"--now: {exc}"}), err=True)
        raise typer.Exit(2) from exc
    settings = boot.load_settings()
    start_worker("timers", metrics_port, metrics_host)
    lapor = boot.open_app(settings)
    engine = boot.projection_engine(settings)
    try:
        model = DeadlinesModel(calendar=lapor.calendar, policy=lapor.policy)
        prepare(engine, [model])
        service = TimerService(
            lapor,
            engine,
            clock=(lambda: fixed) if fixed else (lambda: datetime.now(UTC)),
            model=model,
            in_process=not external_projection,
            poll_interval=poll_interval,
        )
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, lambda *_: service.stop.set())
        report = service.run(follow=follow)
    finally:
        engine.dispose()
        lapor.close()
    typer.echo(json.dumps({"ok": report.failed == 0, **report.as_dict()}))
    raise typer.Exit(1 if report.failed else 0)
