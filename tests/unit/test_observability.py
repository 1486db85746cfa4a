"""Worker metrics: the families, the served endpoint, the commands that serve them, the
Grafana dashboard and docs/operations.md agreeing with the code's registry."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from lapor_es import observability
from lapor_es.api.metrics import Metrics
from lapor_es.bootstrap import open_app
from lapor_es.cli import app
from lapor_es.config import Settings
from lapor_es.observability.prometheus import (
    PrometheusWorkerMetrics,
    exposed_names,
    serve_worker_metrics,
    stop_serving,
    worker_names,
)
from tests.conftest import NOW
from tests.support.builders import small_directory, traffic
from tests.support.kafka import free_port

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "lapor-es.json"
FAMILIES = {
    "lapor_worker_processed_records": "counter",
    "lapor_worker_batch_duration_seconds": "histogram",
    "lapor_worker_lag_records": "gauge",
    "lapor_worker_retries": "counter",
    "lapor_worker_parked_records": "counter",
    "lapor_worker_consumer_restarts": "counter",
}


@pytest.fixture(autouse=True)
def _no_servers_left() -> Iterator[None]:
    yield
    stop_serving()


@dataclass
class Scrape:
    families: dict[str, str]  # family name -> type
    samples: dict[str, float]  # sample name -> value (histogram buckets left out)
    roles: set[str]


def scrape(port: int) -> Scrape:
    """The worker families served on 127.0.0.1:port."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as answer:
        text = answer.read().decode()
    found = Scrape({}, {}, set())
    for family in text_string_to_metric_families(text):
        if not family.name.startswith("lapor_worker_") or family.name.endswith("_created"):
            continue  # (the text format shows each counter's `_created` as a gauge of its own)
        found.families[family.name] = family.type
        for sample in family.samples:
            found.roles.add(sample.labels["role"])
            if "le" not in sample.labels:
                found.samples[sample.name] = sample.value
    return found


def test_a_served_recorder_shows_every_family_with_its_role() -> None:
    served = serve_worker_metrics("projector", 0)
    assert observability.current() is served.metrics  # workers made from now on report here
    served.metrics.batch(7, 0.2)
    served.metrics.batch(3, 0.1)
    served.metrics.lag(42)
    served.metrics.retried(2)
    served.metrics.parked(1)
    served.metrics.restarted()
    found = scrape(served.port)
    assert found.families == FAMILIES
    assert found.roles == {"projector"}
    assert found.samples["lapor_worker_processed_records_total"] == 10
    assert found.samples["lapor_worker_batch_duration_seconds_count"] == 2
    assert found.samples["lapor_worker_batch_duration_seconds_sum"] == pytest.approx(0.3)
    assert found.samples["lapor_worker_lag_records"] == 42
    assert found.samples["lapor_worker_retries_total"] == 2
    assert found.samples["lapor_worker_parked_records_total"] == 1
    assert found.samples["lapor_worker_consumer_restarts_total"] == 1


def test_stop_serving_closes_the_port_and_restores_the_no_op_recorder() -> None:
    served = serve_worker_metrics("relay", 0)
    stop_serving()
    assert isinstance(observability.current(), observability.NoMetrics)
    with pytest.raises(OSError):
        urllib.request.urlopen(f"http://127.0.0.1:{served.port}/metrics", timeout=5)


def test_an_unknown_role_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown worker role"):
        PrometheusWorkerMetrics("projektor")


def test_the_worker_interface_imports_no_prometheus() -> None:
    """The workers import lapor_es.observability only; prometheus-client stays in the
    entry points (a fresh interpreter, since this one has it loaded already)."""
    code = (
        "import sys, lapor_es.observability, lapor_es.kafka.relay, lapor_es.projections.runners,"
        " lapor_es.feeds.router, lapor_es.timers, lapor_es.notify.service, lapor_es.feeds.webhooks;"
        " print('prometheus_client' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_the_local_projector_reports_its_batches_and_lag(tmp_path: Path) -> None:
    """`project --until-caught-up --metrics-port` on a store with filings: the runner's
    batches and its lag reach the endpoint of the role `projector`."""
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/lapor.sqlite3", reporter_pepper="test-pepper"
    )
    lapor = open_app(settings, clock=lambda: NOW)
    try:
        small_directory(lapor)
        traffic(lapor, 5, NOW - timedelta(days=3))
    finally:
        lapor.close()
    env = {
        "LAPOR_DATABASE_URL": settings.database_url,
        "LAPOR_REPORTER_PEPPER": "test-pepper",
        "LAPOR_LOG_FORMAT": "json",
    }
    port = free_port()
    done = CliRunner().invoke(app, ["project", "--metrics-port", str(port)], env=env)
    assert done.exit_code == 0, done.output
    found = scrape(port)  # the server lives as long as the process (here: until teardown)
    assert found.roles == {"projector"}
    processed = found.samples["lapor_worker_processed_records_total"]
    assert processed >= 5  # at least one event per filed complaint
    assert found.samples["lapor_worker_batch_duration_seconds_count"] >= 1
    # Caught up: nothing of the complaint topics is left; the head may be a directory event.
    assert 0 <= found.samples["lapor_worker_lag_records"] < processed


@pytest.mark.parametrize(
    ("role", "command", "extra_env"),
    [
        ("timers", ["timers", "--once"], {}),
        (
            "notifier",
            ["notify", "--until-caught-up"],
            {"LAPOR_NOTIFY_SMS_WEBHOOK_URL": "http://127.0.0.1:9/sms"},
        ),
    ],
)
def test_each_worker_command_serves_its_families(
    tmp_path: Path, role: str, command: list[str], extra_env: dict[str, str]
) -> None:
    env = {
        "LAPOR_DATABASE_URL": f"sqlite:///{tmp_path}/lapor.sqlite3",
        "LAPOR_REPORTER_PEPPER": "p",
        "LAPOR_LOG_FORMAT": "json",
        "LAPOR_METRICS_PORT": str(port := free_port()),  # the setting, not the option
        **extra_env,
    }
    done = CliRunner().invoke(app, command, env=env)
    assert done.exit_code == 0, done.output
    found = scrape(port)
    assert found.families == FAMILIES
    assert found.roles == {role}


def test_without_a_port_no_recorder_is_installed(tmp_path: Path) -> None:
    env = {"LAPOR_DATABASE_URL": f"sqlite:///{tmp_path}/lapor.sqlite3", "LAPOR_LOG_FORMAT": "json"}
    done = CliRunner().invoke(app, ["timers", "--once"], env=env)
    assert done.exit_code == 0, done.output
    assert isinstance(observability.current(), observability.NoMetrics)


# ---------------------------------------------------------------------- dashboard and docs
def dashboard_metric_names() -> set[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", [])]
    exprs += [v["definition"] for v in dashboard["templating"]["list"] if "definition" in v]
    return {name for expr in exprs for name in re.findall(r"\blapor_[a-z_]+", expr)}


def test_every_metric_the_dashboard_uses_exists_in_the_registry() -> None:
    known = worker_names() | exposed_names(Metrics().registry)
    used = dashboard_metric_names()
    assert used, "the dashboard queries no lapor metric"
    assert sorted(used - known) == []


def test_the_dashboard_draws_every_worker_family() -> None:
    used = dashboard_metric_names()
    assert [f for f in FAMILIES if not any(name.startswith(f) for name in used)] == []


def test_operations_md_lists_every_metric() -> None:
    text = (ROOT / "docs" / "operations.md").read_text(encoding="utf-8")
    families = {f.name: f.type for f in PrometheusWorkerMetrics("relay").registry.collect()}
    families |= {f.name: f.type for f in Metrics().registry.collect()}
    for name, kind in families.items():
        shown = f"{name}_total" if kind == "counter" else name
        row = next((line for line in text.splitlines() if f"| `{shown}` |" in line), None)
        assert row is not None, f"docs/operations.md has no row for {shown}"
        assert f"| {kind} |" in row, f"{shown}: the row does not say it is a {kind}"
