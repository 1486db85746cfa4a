"""A slice of the authorization matrix against a real `lapor-es serve` on PostgreSQL.

The rows and the world are the unit test's (tests/unit/api/test_authorization_matrix.py):
the same table, the same callers, the same set-up through the door; here the tokens live
in the SQL principal store, access codes in the SQL code store, every request crosses a
real socket to a uvicorn process. The slice: the complaint views, an inbox, the desk
queue, the public timeline, and the commands that carry the rules (file, verify, an
agency's start, backdating, posing as the reporter, the reporter's confirmation, the
timer's warning), and the Open311 filing.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from lapor_es.application import utc_now
from lapor_es.bootstrap import principal_store
from lapor_es.config import Settings
from tests.conftest import fresh_postgres_database
from tests.support.cli import cli
from tests.support.server import Server, server_env, start_server
from tests.unit.api.test_authorization_matrix import World, check_row, forwarded_shared

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

SLICE = [
    "timeline",
    "complaint",
    "complaint-conf",
    "inbox-holder",
    "desk-queue",
    "file",
    "file-backdated",
    "verify",
    "start",
    "start-backdated",
    "start-as-reporter",
    "confirm",
    "confirm-as-reporter",
    "warn-sla",
    "o311-file",
]
PROJECTED_DEADLINE = 60.0  # seconds for the server's projector to show the shared complaint
# The limits have tests of their own; the matrix sends hundreds of requests per principal
# and many wrong codes from one address.
UNLIMITED = {
    "LAPOR_API_RATE_BURST": "100000",
    "LAPOR_API_RATE_PER_SECOND": "100000",
    "LAPOR_ACCESS_CODE_ATTEMPTS": "100000",
}


@pytest.fixture
def database(postgres_server: str, tmp_path: Path) -> str:
    """A fresh PostgreSQL database with the national agency directory loaded."""
    url = fresh_postgres_database(postgres_server)
    loaded = cli(tmp_path, "agencies", "load", env=server_env(url))
    assert loaded.returncode == 0, loaded.stderr
    return url


@pytest.fixture
def server(database: str, tmp_path: Path) -> Iterator[Server]:
    running = start_server(database, tmp_path, "--project", env=UNLIMITED)
    yield running
    running.stop()


def wait_until_projected(world: World, server: Server) -> None:
    tracking_id = forwarded_shared(world).tracking_id
    deadline = time.monotonic() + PROJECTED_DEADLINE
    while time.monotonic() < deadline:
        if world.http.get(f"/v1/complaints/{tracking_id}/timeline").status_code == 200:
            return
        time.sleep(0.2)
    raise AssertionError(
        f"the server's projector did not show {tracking_id} on its timeline within "
        f"{PROJECTED_DEADLINE:g} s:\n{server.log_tail()}"
    )


def test_the_matrix_slice_holds_on_a_real_server(database: str, server: Server) -> None:
    settings = Settings(_env_file=None, database_url=database, reporter_pepper="test-pepper")
    with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
        world = World(http, principal_store(settings), utc_now).setup()
        wait_until_projected(world, server)
        failures = []
        for name in SLICE:
            try:
                check_row(world, name)
            except AssertionError as exc:
                failures.append(str(exc))
        assert not failures, "\n".join(failures) + f"\n{server.log_tail()}"
