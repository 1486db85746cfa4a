"""What every long-running command does first: name its role and, if asked, serve metrics.

The role goes into every log line of the process (ours and the standard library's, through
the contextvars the logging pipeline merges). Metrics are served only when a port is given
(`--metrics-port` or LAPOR_METRICS_PORT), on loopback unless LAPOR_METRICS_HOST says
otherwise: a scrape target is opened to the network on purpose, never by default.
"""

from __future__ import annotations

from typing import Annotated

import structlog
import typer

from lapor_es.observability.prometheus import MetricsServer, serve_worker_metrics

log = structlog.get_logger("lapor_es.cli.metrics")

MetricsPort = Annotated[
    int | None,
    typer.Option(
        "--metrics-port",
        envvar="LAPOR_METRICS_PORT",
        min=0,
        max=65535,
        help="serve Prometheus metrics on this port (0: any free port; unset: none)",
    ),
]
MetricsHost = Annotated[
    str,
    typer.Option(
        "--metrics-host",
        envvar="LAPOR_METRICS_HOST",
        help="address the metrics port listens on (loopback by default)",
    ),
]
DEFAULT_HOST = "127.0.0.1"


def start_worker(role: str, port: int | None, host: str = DEFAULT_HOST) -> MetricsServer | None:
    """Bind `role` into the logs and serve the worker metrics when `port` is set."""
    structlog.contextvars.bind_contextvars(process=role)
    if port is None:
        return None
    server = serve_worker_metrics(role, port, host)
    log.info("metrics.serving", address=f"http://{host}:{server.port}/metrics")
    return server
