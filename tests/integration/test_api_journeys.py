"""The door as a real `lapor-es serve` process on real PostgreSQL, with real HTTP clients.

- The journey: a channel files, the desk verifies, the agency responds, the reporter
  confirms with the access code; then the public timeline (the server keeps the read models
  current itself with --project) shows it.
- Two server processes on one PostgreSQL, filing concurrently: every tracking number is
  distinct and none is lost.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from lapor_es.aggregates.values import Channel
from lapor_es.application import utc_now
from lapor_es.auth.principals import PrincipalRole
from lapor_es.bootstrap import open_app, principal_store
from lapor_es.config import Settings
from tests.conftest import fresh_postgres_database
from tests.support.cli import cli
from tests.support.server import Server, server_env, start_server

pytestmark = [pytest.mark.integration]

TIMELINE_DEADLINE = 60.0  # seconds for the in-process projector to reach the last event


@pytest.fixture
def database(postgres_server: str, tmp_path: Path) -> str:
    """A fresh PostgreSQL database with the national agency directory loaded."""
    url = fresh_postgres_database(postgres_server)
    loaded = cli(tmp_path, "agencies", "load", env=server_env(url))
    assert loaded.returncode == 0, loaded.stderr
    return url


def tokens(database: str) -> dict[str, str]:
    settings = Settings(_env_file=None, database_url=database, reporter_pepper="test-pepper")
    store = principal_store(settings)
    now = utc_now()
    issued = {
        "portal": store.add("portal", PrincipalRole.CHANNEL, channel=Channel.WEB, now=now),
        "desk": store.add("desk-officer", PrincipalRole.NATIONAL_ADMIN, now=now),
        "kemenkes": store.add("kemenkes", PrincipalRole.AGENCY_ADMIN, agency="KEMENKES", now=now),
    }
    return {who: token for who, (_, token) in issued.items()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def filing(n: int) -> dict[str, Any]:
    return {
        "command": "file",
        "title": f"Lampu jalan padam {n}",
        "description": "Lampu jalan di depan pasar padam sejak minggu lalu.",
        "category": "Infrastruktur",
        "reporter": {"name": f"Warga {n}", "phone": f"0812{n:08d}"},
        "idempotency_key": f"portal-journey-{n:06d}",
    }


@pytest.fixture
def server(database: str, tmp_path: Path) -> Iterator[Server]:
    running = start_server(database, tmp_path, "--project")
    yield running
    running.stop()


@pytest.mark.postgres
def test_channel_desk_agency_and_reporter_journey(
    database: str, server: Server, tmp_path: Path
) -> None:
    token = tokens(database)
    with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
        filed = http.post("/v1/commands", json=filing(1), headers=bearer(token["portal"]))
        assert filed.status_code == 201, filed.text
        tracking, code = filed.json()["tracking_id"], filed.json()["access_code"]

        verify = {
            "command": "verify",
            "complaint": tracking,
            "title": "Lampu jalan padam",
            "category": "Infrastruktur",
            "kind": "complaint",
            "visibility": "public",
            "to_agency": "KEMENKES",
        }
        verified = http.post("/v1/commands", json=verify, headers=bearer(token["desk"]))
        assert verified.status_code == 200 and verified.json()["state"] == "FORWARDED"

        respond = {
            "command": "respond",
            "complaint": tracking,
            "kind": "final",
            "text": "Sudah kami tangani di lokasi.",
        }
        responded = http.post("/v1/commands", json=respond, headers=bearer(token["kemenkes"]))
        assert responded.status_code == 200 and responded.json()["state"] == "RESPONDED"

        reporter = {"X-Lapor-Tracking-Id": tracking, "X-Lapor-Access-Code": code}
        own = http.get(f"/v1/complaints/{tracking}", headers=reporter)
        assert own.status_code == 200 and own.json()["reporter"]["name"] == "Warga 1"
        confirm = {
            "command": "reply",
            "complaint": tracking,
            "kind": "confirm",
            "text": "Terima kasih",
        }
        confirmed = http.post("/v1/commands", json=confirm, headers=reporter)
        assert confirmed.status_code == 200 and confirmed.json()["state"] == "RESOLVED"

        # The public page, once the server's projector has caught up.
        deadline = time.monotonic() + TIMELINE_DEADLINE
        page: dict[str, Any] = {}
        while time.monotonic() < deadline:
            response = http.get(f"/v1/complaints/{tracking}/timeline")
            if response.status_code == 200:
                page = response.json()
                if page["state"] == "RESOLVED":
                    break
            time.sleep(0.2)
        assert page.get("state") == "RESOLVED", (
            f"timeline of {tracking} not RESOLVED within {TIMELINE_DEADLINE:g} s: {page}\n"
            f"{server.log_tail()}"
        )
        assert "lapor_commands_total" in http.get("/metrics").text


@pytest.mark.postgres
def test_two_servers_on_one_postgresql_file_concurrently(database: str, tmp_path: Path) -> None:
    token = tokens(database)["portal"]
    servers = [start_server(database, tmp_path) for _ in range(2)]
    filings = 40
    try:
        clients = [httpx.Client(base_url=s.base_url, timeout=60.0) for s in servers]

        def file_one(n: int) -> httpx.Response:
            return clients[n % 2].post("/v1/commands", json=filing(n), headers=bearer(token))

        with ThreadPoolExecutor(max_workers=8) as pool:
            responses = list(pool.map(file_one, range(filings)))
        for c in clients:
            c.close()
    finally:
        for s in servers:
            s.stop()
    assert [r.status_code for r in responses] == [201] * filings, [
        r.text for r in responses if r.status_code != 201
    ]
    numbers = {r.json()["tracking_id"] for r in responses}
    assert len(numbers) == filings  # distinct: each server issues from its own block
    # ...and every number is accounted for: filed, or left unused in a server's block.
    audit = cli(tmp_path, "audit", "verify", "--store-only", "--format", "json",
                env=server_env(database))  # fmt: skip
    assert audit.returncode == 0, audit.stdout + audit.stderr
    assert json.loads(audit.stdout)["findings"] == []
    lapor = open_app(Settings(_env_file=None, database_url=database, reporter_pepper="test-pepper"))
    try:
        stored = {lapor.complaint(r.json()["tracking_id"]).title for r in responses}
    finally:
        lapor.close()
    assert stored == {f"Lampu jalan padam {n}" for n in range(filings)}


def test_serve_on_the_embedded_sqlite_default(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/lapor.sqlite3"
    assert cli(tmp_path, "agencies", "load", env=server_env(url)).returncode == 0
    token = tokens(url)
    server = start_server(url, tmp_path)
    try:
        with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
            filed = http.post("/v1/commands", json=filing(1), headers=bearer(token["portal"]))
            assert filed.status_code == 201, filed.text
            tracking = filed.json()["tracking_id"]
            seen = http.get(f"/v1/complaints/{tracking}", headers=bearer(token["desk"]))
            assert seen.status_code == 200 and seen.json()["channel"] == "web"
            assert http.get("/readyz").json()["checks"]["auth_migrated"] is True
    finally:
        server.stop()
