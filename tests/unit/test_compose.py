"""deploy/docker-compose.yml is a valid Compose file (the Compose Specification's JSON Schema,
tests/data/compose/compose-spec.json, from github.com/compose-spec/compose-spec at 170098b,
Apache-2.0), its servers have health checks, and the lapor-es services wait for them healthy
and are themselves checked on their metrics port."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml  # type: ignore[import-untyped]  # PyYAML comes with uvicorn[standard] and schemathesis; no stubs installed

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "deploy" / "docker-compose.yml"
SCHEMA = ROOT / "tests" / "data" / "compose" / "compose-spec.json"
SERVERS = {"postgres", "kafka"}


def compose() -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return document


def validator() -> jsonschema.Draft7Validator:
    return jsonschema.Draft7Validator(json.loads(SCHEMA.read_text(encoding="utf-8")))


def engine_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose()["services"].items() if n not in SERVERS}


def test_the_compose_file_follows_the_compose_specification() -> None:
    errors = [f"{list(e.absolute_path)}: {e.message}" for e in validator().iter_errors(compose())]
    assert errors == []


def test_the_schema_does_refuse_a_broken_file() -> None:
    """The validation above can fail: a misspelt dependency condition is refused."""
    broken = compose()
    broken["services"]["relay"]["depends_on"]["kafka"]["condition"] = "service_healty"
    assert list(validator().iter_errors(broken))


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_every_server_has_a_health_check(server: str) -> None:
    check = compose()["services"][server]["healthcheck"]
    assert check["test"] and check["retries"] >= 1


@pytest.mark.parametrize("name", sorted(engine_services()))
def test_every_lapor_es_service_waits_for_healthy_servers(name: str) -> None:
    depends = engine_services()[name]["depends_on"]
    assert {server: depends[server]["condition"] for server in SERVERS} == {
        server: "service_healthy" for server in SERVERS
    }


def test_every_long_running_service_is_checked_on_its_metrics_port() -> None:
    workers = {n: s for n, s in engine_services().items() if "restart" in s}
    assert set(workers) == {"relay", "projector", "router", "timers"}
    for name, service in workers.items():
        port = service["environment"]["LAPOR_METRICS_PORT"]
        assert service["environment"]["LAPOR_METRICS_HOST"] == "0.0.0.0"
        probe = " ".join(service["healthcheck"]["test"])
        assert f"127.0.0.1:{port}/metrics" in probe, name
