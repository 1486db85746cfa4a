"""The Prometheus families of the workers, defined once (docs/operations.md lists them).

Every family carries a `role` label (relay, projector, router, timers, notifier, webhooks),
so one dashboard serves every process; a process runs one role. The door (`serve`) has its
own families in lapor_es/api/metrics.py, on its own /metrics route.
"""

from __future__ import annotations

from dataclasses import dataclass
from threading import Thread
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

from lapor_es import observability

ROLES = ("relay", "projector", "router", "timers", "notifier", "webhooks")

# name -> (type, help); the dashboard test checks deploy/grafana against these names.
PROCESSED = "lapor_worker_processed_records"
BATCH_SECONDS = "lapor_worker_batch_duration_seconds"
LAG = "lapor_worker_lag_records"
RETRIES = "lapor_worker_retries"
PARKED = "lapor_worker_parked_records"
RESTARTS = "lapor_worker_consumer_restarts"


class PrometheusWorkerMetrics:
    """`WorkerMetrics` into a registry of its own (tests build several per process)."""

    def __init__(self, role: str, registry: CollectorRegistry | None = None) -> None:
        if role not in ROLES:
            raise ValueError(f"unknown worker role {role!r}; one of {', '.join(ROLES)}")
        self.role = role
        self.registry = registry or CollectorRegistry(auto_describe=True)
        r = self.registry
        self._processed = Counter(
            PROCESSED, "Events or records processed", ("role",), registry=r
        ).labels(role)
        self._latency = Histogram(
            BATCH_SECONDS,
            "Time to process one batch, from first record to commit",
            ("role",),
            registry=r,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
        ).labels(role)
        self._lag = Gauge(
            LAG, "Events or records behind the store head or topic end", ("role",), registry=r
        ).labels(role)
        self._retries = Counter(
            RETRIES, "Failed attempts that will be tried again", ("role",), registry=r
        ).labels(role)
        self._parked = Counter(
            PARKED, "Records parked until an operator acts", ("role",), registry=r
        ).labels(role)
        self._restarts = Counter(
            RESTARTS, "Consumer or producer sessions replaced after a failure", ("role",),
            registry=r,
        ).labels(role)  # fmt: skip

    def batch(self, records: int, seconds: float) -> None:
        self._processed.inc(records)
        self._latency.observe(seconds)

    def lag(self, behind: int) -> None:
        self._lag.set(max(0, behind))

    def retried(self, count: int = 1) -> None:
        self._retries.inc(count)

    def parked(self, count: int = 1) -> None:
        if count:
            self._parked.inc(count)

    def restarted(self) -> None:
        self._restarts.inc()


SUFFIXES = {
    "counter": ("_total", "_created"),
    "gauge": ("",),
    "histogram": ("_bucket", "_sum", "_count", "_created"),
}


def exposed_names(registry: CollectorRegistry) -> set[str]:
    """Every sample name a scrape of `registry` can show, labelled or not yet observed
    (a counter `x` is scraped as `x_total`, a histogram as `x_bucket`, `x_sum`, ...)."""
    return {
        family.name + suffix
        for family in registry.collect()
        for suffix in SUFFIXES.get(family.type, ("",))
    }


def worker_names() -> set[str]:
    """The sample names of the worker families (what deploy/grafana may refer to)."""
    return exposed_names(PrometheusWorkerMetrics("relay").registry)


@dataclass
class MetricsServer:
    metrics: PrometheusWorkerMetrics
    server: WSGIServer
    thread: Thread

    @property
    def port(self) -> int:
        return int(self.server.server_port)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_worker_metrics(role: str, port: int, host: str = "127.0.0.1") -> MetricsServer:
    """Install a Prometheus recorder for `role` and serve it on host:port (0 = any free port).

    Loopback by default: a scrape target is opened to the network on purpose, not by default.
    """
    metrics = PrometheusWorkerMetrics(role)
    server, thread = start_http_server(port, addr=host, registry=metrics.registry)
    observability.install(metrics)
    serving = MetricsServer(metrics, server, thread)
    _serving.append(serving)
    return serving


_serving: list[MetricsServer] = []


def stop_serving() -> None:
    """Close every metrics server of this process and go back to the no-op recorder (a
    command run in-process, as tests do, must not leave its port open)."""
    while _serving:
        _serving.pop().close()
    observability.install(observability.NoMetrics())
