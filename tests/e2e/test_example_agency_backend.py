"""examples/agency_backend.py, run as an agency would run it: a complaint filed and forwarded
to KEMENKES through a real `lapor-es serve` reaches the agency's feed through a real relay
and router, and the example starts work on it and answers it through the door with its
agency token. The backend is given no usable database: it needs none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lapor_es.kafka.settings import KafkaSettings
from tests.support.cli import cli
from tests.support.server import Server, start_server

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "agency_backend.py"
UNREACHABLE_DATABASE = "postgresql+psycopg://nobody@127.0.0.1:9/none"  # port 9: discard


@pytest.fixture
def env(kafka: KafkaSettings) -> dict[str, str]:
    suffix = uuid.uuid4().hex[:8]
    return {
        "LAPOR_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "LAPOR_KAFKA_TOPIC": kafka.topic,
        "LAPOR_FEEDS_TOPIC_PREFIX": f"test.agency.{suffix}.",
        "LAPOR_FEEDS_ROUTER_ID": f"test-router-{suffix}",
        "LAPOR_FEEDS_ROUTER_TOPICS": f"test.router.{suffix}",
        "LAPOR_LOG_LEVEL": "warning",
    }


@pytest.fixture
def server(tmp_path: Path, env: dict[str, str]) -> Iterator[Server]:
    loaded = cli(tmp_path, "agencies", "load", env=env)
    assert loaded.returncode == 0, loaded.stderr
    running = start_server(f"sqlite:///{tmp_path}/lapor.sqlite3", tmp_path)
    yield running
    running.stop()


def issue_token(tmp_path: Path, env: dict[str, str], name: str, *options: str) -> str:
    done = cli(tmp_path, "principals", "add", name, *options, "--format", "json", env=env)
    assert done.returncode == 0, done.stderr
    token: str = json.loads(done.stdout)["token"]
    return token


def test_the_example_backend_acts_through_the_door(
    tmp_path: Path, env: dict[str, str], server: Server
) -> None:
    portal = issue_token(tmp_path, env, "portal", "--role", "channel", "--channel", "web")
    desk = issue_token(tmp_path, env, "desk", "--role", "national_admin")
    backend_token = issue_token(
        tmp_path, env, "kemenkes-backend", "--role", "agency_admin", "--agency", "KEMENKES"
    )
    with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
        filing = {
            "command": "file",
            "title": "Puskesmas tutup",
            "description": "Puskesmas di desa kami tutup setiap hari Sabtu tanpa pemberitahuan.",
            "category": "Kesehatan",
            "reporter": {"name": "Dewi Lestari", "phone": "081298765432"},
        }
        filed = http.post("/v1/commands", json=filing, headers=bearer(portal))
        assert filed.status_code == 201, filed.text
        tracking_id = filed.json()["tracking_id"]
        verify = {
            "command": "verify",
            "complaint": tracking_id,
            "title": "Puskesmas tutup",
            "category": "Kesehatan",
            "kind": "complaint",
            "visibility": "public",
            "to_agency": "KEMENKES",
        }
        verified = http.post("/v1/commands", json=verify, headers=bearer(desk))
        assert verified.status_code == 200, verified.text

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
            env=backend_env(env, server.base_url, backend_token),
        )
        assert backend.returncode == 0, backend.stderr
        assert f"{tracking_id}: assigned" in backend.stdout
        assert backend.stdout.count(f"{tracking_id}: ok") == 2, backend.stdout

        view = http.get(f"/v1/complaints/{tracking_id}", headers=bearer(desk)).json()
    assert view["state"] == "IN_PROGRESS"
    assert [h["event"] for h in view["history"]][-2:] == ["WorkStarted", "Responded"]
    assert view["history"][-1]["agency"] == "KEMENKES"
    assert view["history"][-1]["actor"] == "kemenkes-backend"  # derived from its token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def backend_env(env: dict[str, str], api_url: str, token: str) -> dict[str, str]:
    return (
        os.environ
        | env
        | {
            "LAPOR_DATABASE_URL": UNREACHABLE_DATABASE,
            "LAPOR_API_URL": api_url,
            "LAPOR_API_TOKEN": token,
        }
    )
