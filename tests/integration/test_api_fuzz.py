"""Contract fuzz of the door: schemathesis generates requests for every operation of the
OpenAPI document (valid and invalid ones) and checks every answer against the document.

- zero 5xx (`not_a_server_error`);
- every status is one the operation documents, with a documented content type, a body
  matching the documented schema and the documented headers.

The app runs in-process (ASGI) on a real PostgreSQL event store, read models and auth
tables, built by `bootstrap.door` exactly as `lapor-es serve` builds it. Requests carry real
tokens: a national_admin's (the role that reaches the most routes), a channel's for the
Open311 filing (the only role that files there), so the authenticated routes are exercised
past the 401. The bound: FUZZ_EXAMPLES per operation (LAPOR_FUZZ_EXAMPLES to change it),
about a minute on a loaded 2-core machine.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from lapor_es.aggregates.values import Channel
from lapor_es.api.app import create_app, routes_app
from lapor_es.api.door import Door
from lapor_es.auth.principals import PrincipalRole
from lapor_es.bootstrap import door as build_door
from lapor_es.config import Settings
from tests.conftest import fresh_postgres_database
from tests.support.builders import small_directory

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

FUZZ_EXAMPLES = int(os.environ.get("LAPOR_FUZZ_EXAMPLES", "25"))
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]


# (operation, status) seen by the fuzz, across the module's doors: under pytest-xdist a
# module-scoped fixture may be built again between the module's tests, so the counts live
# here and the last test of the module looks at them.
ANSWERS: Counter[tuple[str, int]] = Counter()


class Fuzzed:
    """The door under fuzz and the tokens its requests carry."""

    def __init__(self, door: Door) -> None:
        self.door = door
        now = door.clock()
        _, self.desk = door.principals.add("fuzz-desk", PrincipalRole.NATIONAL_ADMIN, now=now)
        _, self.channel = door.principals.add(
            "fuzz-portal", PrincipalRole.CHANNEL, channel=Channel.WEB, now=now
        )

        self.answers = ANSWERS

    def headers(self, method: str, path: str) -> dict[str, str]:
        filing_open311 = method == "POST" and path.startswith("/open311/")
        token = self.channel if filing_open311 else self.desk
        return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def fuzzed(postgres_server: str) -> Iterator[Fuzzed]:
    url = fresh_postgres_database(postgres_server)
    # Limits the fuzz would otherwise hit (they have tests of their own); the request
    # timeout stays, so a hang shows as a 503, which the document lists.
    door = build_door(
        Settings(
            _env_file=None,
            database_url=url,
            reporter_pepper="test-pepper",
            api_rate_burst=100_000,
            api_rate_per_second=100_000.0,
        )
    )
    small_directory(door.lapor)
    fuzz = Fuzzed(door)
    yield fuzz
    door.close()


# The document as the app serves it at /openapi.json (docs/openapi.json; a unit test keeps
# the two equal), loaded at import: schemathesis builds the cases from it. Each case is then
# sent to the app with the door (`app=`), built once per module on PostgreSQL.
schema = schemathesis.openapi.from_asgi("/openapi.json", routes_app())


@asynccontextmanager
async def no_lifespan(_: FastAPI) -> AsyncIterator[None]:
    yield


@pytest.fixture(scope="module")
def app(fuzzed: Fuzzed) -> FastAPI:
    app = create_app(fuzzed.door)
    # schemathesis's ASGI transport runs the app's lifespan around every request, and the
    # app's lifespan closes the door when it ends; the fixture closes it once, at the end.
    app.router.lifespan_context = no_lifespan
    return app


@schema.parametrize()
@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,  # PostgreSQL on a shared machine: time is not the property under test
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Any, fuzzed: Fuzzed, app: FastAPI) -> None:
    headers = fuzzed.headers(case.method, case.path)
    # Our token, unless the case is about the header itself (a generated Authorization).
    case.headers = headers | {k: v for k, v in (case.headers or {}).items() if k != "Authorization"}
    response = case.call_and_validate(checks=CHECKS, app=app)
    fuzzed.answers[(f"{case.method} {case.path}", response.status_code)] += 1


def test_nul_characters_are_refused_before_they_reach_postgresql(
    fuzzed: Fuzzed, app: FastAPI
) -> None:
    """Found by the fuzz: `?service_request_id=%00` reached PostgreSQL and answered 500
    (text cannot hold U+0000). Now a 400 in the path, the query or a command's body."""
    desk = {"Authorization": f"Bearer {fuzzed.desk}"}
    channel = {"Authorization": f"Bearer {fuzzed.channel}"}
    head = fuzzed.door.lapor.recorder.max_notification_id()
    with TestClient(app) as client:
        for url in (
            "/open311/v2/requests.json?service_request_id=%00",
            "/v1/stats/completion?from=2026-01-01&to=2026-12-31&category=a%00b",
            "/v1/complaints/LAP-2026-0000001%00",
        ):
            response = client.get(url, headers=desk)
            assert response.status_code == 400, (url, response.text)
            if url.startswith("/open311/"):  # the spec's error list there
                assert response.json()[0]["code"] == 400
            else:
                assert response.json()["code"] == "validation_error"
        body = {
            "command": "file",
            "title": "Jalan rusak\u0000 parah",
            "description": "Jalan berlubang sepanjang dua ratus meter.",
            "reporter": {"name": "Warga", "phone": "081234567890"},
        }
        filed = client.post("/v1/commands", json=body, headers=channel)
        assert (filed.status_code, filed.json()["code"]) == (400, "validation_error")
        form = {"service_code": "lainnya", "description": "Lampu\u0000 padam"} | {
            "email": "warga@example.org",
            "address_string": "Jl. Melati 3",
        }
        open311 = client.post("/open311/v2/requests.json", data=form, headers=channel)
        assert open311.status_code == 400, open311.text
    assert fuzzed.door.lapor.recorder.max_notification_id() == head  # nothing stored


def test_the_fuzz_got_past_the_door_with_its_tokens() -> None:
    """Last in the module: the fuzz's cases were admitted where its tokens allow, so it
    tested the routes and not only the authentication in front of them."""
    for (operation, status), count in sorted(ANSWERS.items()):  # shown with -s
        print(f"fuzz: {operation} -> {status}: {count}")
    if not ANSWERS:
        pytest.skip("the fuzz was deselected")
    admitted = {op for (op, status), _ in ANSWERS.items() if status < 400}
    assert {"GET /v1/desk/queue", "GET /v1/agencies"} <= admitted, ANSWERS
