"""Prometheus metrics of the door, in a registry of its own (one per app: tests build many).

Per process: with `lapor-es serve --workers N` each worker counts its own requests, and a
scrape reaches one worker; scrape each worker, or run one worker per container, as usual
with prometheus-client outside its multiprocess mode.
"""

from __future__ import annotations

import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

UNMATCHED = "<unmatched>"  # requests no route took (404s): one label, not one per path


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "lapor_http_requests",
            "HTTP requests by route template, method and status",
            ("route", "method", "status"),
            registry=self.registry,
        )
        self.latency = Histogram(
            "lapor_http_request_duration_seconds",
            "HTTP request latency by route template and method",
            ("route", "method"),
            registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
        )
        self.commands = Counter(
            "lapor_commands",
            "Commands through the door by type and outcome (ok or the error code)",
            ("command", "outcome"),
            registry=self.registry,
        )

    def command(self, name: str, outcome: str) -> None:
        self.commands.labels(command=name, outcome=outcome).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class MetricsMiddleware:
    """Counts every HTTP request by its route template (`/v1/complaints/{tracking_id}`, never
    the concrete path: bounded label values) once the response has started."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # if the app raises before answering, the server answers 500

        async def send_and_count(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_count)
        finally:
            route = scope.get("route")
            template = getattr(route, "path", None) or UNMATCHED
            method = scope["method"]
            self.metrics.requests.labels(route=template, method=method, status=str(status)).inc()
            self.metrics.latency.labels(route=template, method=method).observe(
                time.perf_counter() - started
            )
