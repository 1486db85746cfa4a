"""`lapor-es serve`: the HTTP door on uvicorn, on the configured store (the embedded SQLite
default or PostgreSQL), built by bootstrap.door and lapor_es.api.create_app.

One worker runs the app in this process; `--workers N` has uvicorn start N processes, each
building its own door from the environment (`app_from_environment`). Several processes, on
one machine or many, are correct together on PostgreSQL: every save is a transaction with
optimistic concurrency. `--project` also keeps the read models (inbox, desk queue, timeline,
statistics) current from inside this process, for the embedded default with no `lapor-es
project` running; it needs a single worker.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Annotated

import typer

from lapor_es import bootstrap as boot

if TYPE_CHECKING:  # imported when serving: other commands start without the web stack
    from fastapi import FastAPI

    from lapor_es.api.app import Background
    from lapor_es.api.door import Door


def _projector(door: Door) -> Background:
    def follow(stop: threading.Event) -> None:
        from lapor_es import observability
        from lapor_es.observability.prometheus import PrometheusWorkerMetrics
        from lapor_es.readmodels.service import ReadModelService

        # The in-process projector's families go on the door's own /metrics.
        observability.install(PrometheusWorkerMetrics("projector", door.metrics.registry))
        lapor = door.lapor
        read_models = ReadModelService(door.read_models, door.settings)  # the door disposes it
        read_models.catch_up(lapor.recorder, lapor.mapper, follow=True, stop=stop)

    return follow


def app_from_environment() -> FastAPI:
    """uvicorn's factory for each worker process: settings from LAPOR_* variables."""
    from lapor_es.api.app import create_app

    return create_app(boot.door(boot.load_settings()))


def serve(
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=0, max=65535, help="TCP port")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="server processes")] = 1,
    project: Annotated[
        bool,
        typer.Option(
            "--project/--no-project",
            help="keep the read models current in-process (single worker; else run "
            "`lapor-es project` beside)",
        ),
    ] = False,
) -> None:
    """Serve the HTTP API (/v1, /healthz, /readyz, /metrics) until stopped."""
    import uvicorn

    from lapor_es.api.app import create_app

    if workers > 1:
        if project:
            typer.echo("--project needs --workers 1: run `lapor-es project` beside", err=True)
            raise typer.Exit(2)
        boot.load_settings()  # fail fast on bad settings, before the workers start
        uvicorn.run(
            "lapor_es.cli.serve:app_from_environment",
            factory=True,
            host=host,
            port=port,
            workers=workers,
            log_config=None,  # our logging (bootstrap.load_settings) renders uvicorn's too
        )
        return
    door = boot.door(boot.load_settings())
    background = _projector(door) if project else None
    app = create_app(door, background=background)
    uvicorn.run(app, host=host, port=port, log_config=None)
