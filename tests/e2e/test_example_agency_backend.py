"""examples/agency_backend.py, run as an agency would run it: a complaint forwarded to
KEMENKES reaches its feed through the relay and the router, and the example starts work on it
and answers it through the command interface."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from lapor_es.kafka.settings import KafkaSettings
from tests.support.builders import DESK, file_cmd
from tests.support.cli import cli

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agency_backend.py"


def test_the_example_backend_acts_on_its_assigned_complaint(
    tmp_path: Path, kafka: KafkaSettings
) -> None:
    suffix = uuid.uuid4().hex[:8]
    env = {
        "LAPOR_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "LAPOR_KAFKA_TOPIC": kafka.topic,
        "LAPOR_FEEDS_TOPIC_PREFIX": f"test.agency.{suffix}.",
        "LAPOR_FEEDS_ROUTER_ID": f"test-router-{suffix}",
        "LAPOR_FEEDS_ROUTER_TOPICS": f"test.router.{suffix}",
        "LAPOR_LOG_LEVEL": "warning",
    }
    assert cli(tmp_path, "agencies", "load", env=env).returncode == 0
    verify = {
        "command": "verify",
        "actor": DESK,
        "complaint": "LAP-2026-0000001",
        "title": "Puskesmas tutup",
        "category": "Kesehatan",
        "kind": "complaint",
        "visibility": "public",
        "to_agency": "KEMENKES",
    }
    script = "\n".join(json.dumps(c) for c in (file_cmd(), verify)) + "\n"
    assert cli(tmp_path, "exec", stdin=script, env=env).returncode == 0
    for step in (("relay", "--until-caught-up"), ("feeds", "route")):
        done = cli(tmp_path, *step, env=env)
        assert done.returncode == 0, done.stderr

    backend = subprocess.run(
        [sys.executable, str(EXAMPLE), "KEMENKES", "--until-idle"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
        cwd=tmp_path,
        env=cli_env(tmp_path, env),
    )
    assert backend.returncode == 0, backend.stderr
    assert "LAP-2026-0000001: assigned" in backend.stdout

    view = json.loads(
        cli(
            tmp_path, "show", "LAP-2026-0000001", "--format", "json", "--as", "national", env=env
        ).stdout
    )
    assert view["state"] == "IN_PROGRESS"
    assert [h["event"] for h in view["history"]][-2:] == ["WorkStarted", "Responded"]
    assert view["history"][-1]["agency"] == "KEMENKES"


def cli_env(tmp_path: Path, env: dict[str, str]) -> dict[str, str]:
    return os.environ | {"LAPOR_DATABASE_URL": f"sqlite:///{tmp_path}/lapor.sqlite3"} | env
