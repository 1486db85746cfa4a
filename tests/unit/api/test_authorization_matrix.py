"""The door's authorization matrix: every route x every kind of caller, one status per cell.

MATRIX below is the specification, read row by row: a row is one request on one route (a
route that does several things, POST /v1/commands, has one row per command worth telling
apart); a column is one caller. `test_every_route_has_a_row` enumerates the app's routes, so
a route added without a row fails here until someone decides who may call it.

The columns:
  dsk  national_admin (the desk)        hld  agency_admin of the holding agency (KEMENX.ITJEN)
  par  agency_admin of its parent       uni  agency_admin of its unit (KEMENX.ITJEN.WIL1)
  oth  agency_admin of another agency   chn  channel (web)
  aud  auditor                          ana  analyst
  sys  system (the SLA timer)           rep  the complaint's reporter, with its access code
  orp  another complaint's reporter (that complaint's id and code: a valid reporter)
  wcd  the complaint's tracking id with another complaint's code
  non  no credentials                   rev  a revoked token (of a national_admin)
  exp  an expired token (of a national_admin)                 mal  a malformed token

Rows ending in -conf act on a confidential complaint; -backdated rows send a business time
`at` in the past; -as-reporter rows name the complaint's reporter as the actor.

Reading the table: 404 is "not yours or not there" (never tells which); 403 is "your kind of
caller may not do this here"; the public routes answer whatever credentials come with them
(they read none). Open311 answers as its spec has it: a missing or invalid key is a 403, and
only a channel files. A batch answers 200 with a result per command: its cell is the status that
command's result code would have alone.

The same rows and world run in-process here (TestClient, in-memory store) and, for a slice,
against a real `lapor-es serve` on PostgreSQL (tests/integration/test_api_matrix.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from lapor_es.aggregates.values import Channel
from lapor_es.api.app import create_app
from lapor_es.api.door import DirectoryScope, Door
from lapor_es.api.problems import status_for
from lapor_es.auth import migrations as auth_migrations
from lapor_es.auth.access import InMemoryAccessCodeStore, RateLimit
from lapor_es.auth.principals import InMemoryPrincipalStore, PrincipalRole, PrincipalStore
from lapor_es.bootstrap import in_memory_app, projection_engine_at
from lapor_es.feeds.webhook_signing import SecretBox, new_key
from lapor_es.feeds.webhook_store import WebhookStore
from lapor_es.readmodels.migrations import prepare
from tests.support.builders import small_directory
from tests.unit.api.conftest import door_settings, live_models

MATRIX = """
row                   dsk hld par uni oth chn aud ana sys rep orp wcd non rev exp mal
healthz               200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
readyz                200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
metrics               200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
openapi               200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
docs                  200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
docs-oauth2           200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
redoc                 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
agencies              200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
timeline              200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
timeline-conf         404 404 404 404 404 404 404 404 404 404 404 404 404 404 404 404
complaint             200 200 200 404 404 403 200 403 403 200 404 401 401 401 401 401
complaint-conf        200 200 200 404 404 403 404 403 403 200 404 401 401 401 401 401
inbox-holder          200 200 200 403 403 403 403 403 403 403 403 401 401 401 401 401
inbox-desk            200 403 403 403 403 403 403 403 403 403 403 401 401 401 401 401
desk-queue            200 403 403 403 403 403 403 403 403 403 403 401 401 401 401 401
stats                 200 403 403 403 403 403 403 200 403 403 403 401 401 401 401 401
file                  201 403 403 403 403 201 403 403 403 403 403 401 401 401 401 401
file-backdated        201 403 403 403 403 400 403 403 403 403 403 401 401 401 401 401
verify                200 403 403 403 403 403 403 403 403 403 403 401 401 401 401 401
start                 403 200 200 404 404 403 403 403 403 403 403 401 401 401 401 401
start-backdated       403 400 400 400 400 403 403 403 403 403 403 401 401 401 401 401
start-as-reporter     403 403 403 403 403 403 403 403 403 403 403 401 401 401 401 401
respond               403 200 200 404 404 403 403 403 403 403 403 401 401 401 401 401
confirm               403 403 403 403 403 403 403 403 403 200 403 401 401 401 401 401
confirm-as-reporter   403 403 403 403 403 403 403 403 403 200 403 401 401 401 401 401
warn-sla              403 403 403 403 403 403 403 403 200 403 403 401 401 401 401 401
batch-verify          200 403 403 403 403 403 403 403 403 403 403 401 401 401 401 401
o311-services         200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
o311-file             403 403 403 403 403 201 403 403 403 403 403 403 403 403 403 403
o311-request          200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
o311-request-conf     404 404 404 404 404 404 404 404 404 404 404 404 404 404 404 404
o311-requests         200 200 200 200 200 200 200 200 200 200 200 200 200 200 200 200
webhooks-register     403 201 201 201 201 403 403 403 403 403 403 401 401 401 401 401
webhooks-list         403 200 200 200 200 403 403 403 403 403 403 401 401 401 401 401
webhook-get           403 200 404 404 404 403 403 403 403 403 403 401 401 401 401 401
webhook-delete        403 204 404 404 404 403 403 403 403 403 403 401 401 401 401 401
"""

# The directory the world registers through the desk: a holder with a parent and a unit,
# and an agency outside that tree.
PARENT, HOLDER, UNIT, OTHER = "KEMENX", "KEMENX.ITJEN", "KEMENX.ITJEN.WIL1", "KEMENY"
AGENCIES = [
    (PARENT, "ministry", "LAPOR"),
    (HOLDER, "unit", PARENT),
    (UNIT, "unit", HOLDER),
    (OTHER, "ministry", "LAPOR"),
]
PRINCIPALS: dict[str, dict[str, Any]] = {
    "dsk": {"role": PrincipalRole.NATIONAL_ADMIN},
    "hld": {"role": PrincipalRole.AGENCY_ADMIN, "agency": HOLDER},
    "par": {"role": PrincipalRole.AGENCY_ADMIN, "agency": PARENT},
    "uni": {"role": PrincipalRole.AGENCY_ADMIN, "agency": UNIT},
    "oth": {"role": PrincipalRole.AGENCY_ADMIN, "agency": OTHER},
    "chn": {"role": PrincipalRole.CHANNEL, "channel": Channel.WEB},
    "aud": {"role": PrincipalRole.AUDITOR},
    "ana": {"role": PrincipalRole.ANALYST},
    "sys": {"role": PrincipalRole.SYSTEM},
    "rev": {"role": PrincipalRole.NATIONAL_ADMIN},
}
PROBLEM = "application/problem+json"


def parse_matrix(text: str) -> tuple[list[str], dict[str, dict[str, int]]]:
    """(columns, row name -> column -> expected status)."""
    header, *lines = [line.split() for line in text.strip().splitlines() if line.strip()]
    columns = header[1:]
    rows: dict[str, dict[str, int]] = {}
    for name, *statuses in lines:
        assert name not in rows, f"row {name} twice"
        rows[name] = dict(zip(columns, map(int, statuses), strict=True))
    return columns, rows


COLUMNS, EXPECTED = parse_matrix(MATRIX)


# ----------------------------------------------------------------------- the world
@dataclass(frozen=True)
class Target:
    """A complaint a row acts on, and its reporter's access code."""

    tracking_id: str
    code: str


@dataclass
class World:
    """The callers and the complaints of the matrix, set up through the door itself (so the
    same world runs in-process and against a real server). Only principals are added
    through the store: the door has no route for them (`lapor-es principals` does it)."""

    http: httpx.Client
    principals: PrincipalStore
    now: Callable[[], datetime]
    tokens: dict[str, str] = field(default_factory=dict)
    _shared: dict[str, Target] = field(default_factory=dict)
    _serial: int = 0

    def setup(self) -> World:
        for who, spec in PRINCIPALS.items():
            _, self.tokens[who] = self.principals.add(f"matrix-{who}", now=self.now(), **spec)
        revoked = next(p for p in self.principals.list() if p.name == "matrix-rev")
        self.principals.revoke(revoked.id, self.now())
        past = self.now() - timedelta(days=2)
        _, self.tokens["exp"] = self.principals.add(
            "matrix-exp",
            PrincipalRole.NATIONAL_ADMIN,
            now=past,
            expires_at=past + timedelta(days=1),
        )
        for code, kind, parent in AGENCIES:
            register = {"command": "register_agency", "code": code, "name": f"Instansi {code}"}
            self.ok("dsk", register | {"kind": kind, "parent": parent})
        return self

    def bearer(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def ok(self, who: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post("/v1/commands", json=body, headers=self.bearer(who))
        assert response.status_code in (200, 201), f"setup {body['command']}: {response.text}"
        result: dict[str, Any] = response.json()
        return result

    # Complaints in the states the rows need, each step through the door.
    def filed(self, visibility: str = "public") -> Target:
        self._serial += 1
        result = self.ok("chn", filing(self._serial, visibility=visibility))
        return Target(result["tracking_id"], result["access_code"])

    def forwarded(self, visibility: str = "public") -> Target:
        target = self.filed(visibility)
        self.ok("dsk", verify(target.tracking_id, visibility=visibility))
        # The desk forwards to top-level agencies only; the parent hands it to its unit.
        forward = {"command": "forward", "complaint": target.tracking_id, "to_agency": HOLDER}
        self.ok("par", forward)
        return target

    def responded(self) -> Target:
        target = self.forwarded()
        respond = {"command": "respond", "complaint": target.tracking_id, "kind": "final"}
        self.ok("hld", respond | {"text": "Sudah kami tangani semua."})
        return target

    def shared(self, name: str, make: Callable[[], Target]) -> Target:
        """One complaint for every cell of the read rows (reading changes nothing)."""
        if name not in self._shared:
            self._shared[name] = make()
        return self._shared[name]

    def other(self) -> Target:
        """Another reporter's complaint: its code opens that complaint and no other."""
        return self.shared("other", self.forwarded)

    def desk_view(self, target: Target) -> dict[str, Any]:
        url = f"/v1/complaints/{target.tracking_id}"
        view: dict[str, Any] = self.http.get(url, headers=self.bearer("dsk")).json()
        return view

    def credentials(self, caller: str, target: Target) -> dict[str, str]:
        other = self.other()
        match caller:
            case "rep":
                return reporter(target.tracking_id, target.code)
            case "orp":
                return reporter(other.tracking_id, other.code)
            case "wcd":
                return reporter(target.tracking_id, other.code)
            case "non":
                return {}
            case "mal":
                return {"Authorization": "Bearer lpr_not-a-token"}
        return self.bearer(caller)


def reporter(tracking_id: str, code: str) -> dict[str, str]:
    return {"X-Lapor-Tracking-Id": tracking_id, "X-Lapor-Access-Code": code}


def filing(n: int, **overrides: Any) -> dict[str, Any]:
    body = {
        "command": "file",
        "title": f"Puskesmas tutup di jam kerja {n}",
        "description": "Puskesmas kelurahan tutup pada jam kerja sejak awal bulan.",
        "category": "Kesehatan",
        "reporter": {"name": f"Warga Matriks {n}", "phone": f"0813{n:08d}"},
        "channel": "web",  # the desk must name one; a channel may name its own
    }
    return body | overrides


def verify(tracking_id: str, visibility: str = "public") -> dict[str, Any]:
    return {
        "command": "verify",
        "complaint": tracking_id,
        "title": "Puskesmas tutup di jam kerja",
        "category": "Kesehatan",
        "kind": "complaint",
        "visibility": visibility,
        "to_agency": PARENT,
    }


# ----------------------------------------------------------------------- the rows
@dataclass(frozen=True)
class Request:
    method: str
    url: str
    body: dict[str, Any] | None = None  # JSON
    form: dict[str, str] | None = None  # application/x-www-form-urlencoded (Open311)


@dataclass(frozen=True)
class Row:
    """One request on one route. `target` makes (or shares) the complaint a cell acts on;
    `request` builds the request for it. `batch`: judge the first result, not the status."""

    method: str
    path: str  # the route's template, as the app names it
    target: Callable[[World], Target]
    request: Callable[[World, Target], Request]
    batch: bool = False


def forwarded_shared(w: World) -> Target:
    return w.shared("forwarded", w.forwarded)


def confidential_shared(w: World) -> Target:
    return w.shared("confidential", lambda: w.forwarded("confidential"))


def get(url: str) -> Callable[[World, Target], Request]:
    return lambda w, t: Request("GET", url.format(id=t.tracking_id))


def command(make: Callable[[World, Target], dict[str, Any]]) -> Callable[[World, Target], Request]:
    return lambda w, t: Request("POST", "/v1/commands", make(w, t))


def backdated(w: World) -> str:
    return (w.now() - timedelta(days=1)).isoformat()


def start(w: World, t: Target) -> dict[str, Any]:
    return {"command": "start", "complaint": t.tracking_id}


def confirm(w: World, t: Target) -> dict[str, Any]:
    text = "Terima kasih, sudah beres."
    return {"command": "reply", "complaint": t.tracking_id, "kind": "confirm", "text": text}


def as_reporter(w: World, t: Target) -> dict[str, Any]:
    """Names the complaint's reporter (the pseudonym an agency can see) as the actor."""
    ref = w.desk_view(t)["reporter"]["reporter_ref"]
    return {"id": ref, "role": "reporter"}


def warn_sla(w: World, t: Target) -> dict[str, Any]:
    sla = w.desk_view(t)["sla"]
    due = {"clock": sla["kind"], "due_at": sla["due_at"]}
    return {"command": "warn_sla", "complaint": t.tracking_id} | due


STATS = "/v1/stats/completion?from=2026-01-01&to=2026-12-31"

ROWS: dict[str, Row] = {
    "healthz": Row("GET", "/healthz", forwarded_shared, get("/healthz")),
    "readyz": Row("GET", "/readyz", forwarded_shared, get("/readyz")),
    "metrics": Row("GET", "/metrics", forwarded_shared, get("/metrics")),
    "openapi": Row("GET", "/openapi.json", forwarded_shared, get("/openapi.json")),
    "docs": Row("GET", "/docs", forwarded_shared, get("/docs")),
    "docs-oauth2": Row(
        "GET", "/docs/oauth2-redirect", forwarded_shared, get("/docs/oauth2-redirect")
    ),
    "redoc": Row("GET", "/redoc", forwarded_shared, get("/redoc")),
    "agencies": Row("GET", "/v1/agencies", forwarded_shared, get("/v1/agencies")),
    "timeline": Row(
        "GET",
        "/v1/complaints/{tracking_id}/timeline",
        forwarded_shared,
        get("/v1/complaints/{id}/timeline"),
    ),
    "timeline-conf": Row(
        "GET",
        "/v1/complaints/{tracking_id}/timeline",
        confidential_shared,
        get("/v1/complaints/{id}/timeline"),
    ),
    "complaint": Row(
        "GET", "/v1/complaints/{tracking_id}", forwarded_shared, get("/v1/complaints/{id}")
    ),
    "complaint-conf": Row(
        "GET", "/v1/complaints/{tracking_id}", confidential_shared, get("/v1/complaints/{id}")
    ),
    "inbox-holder": Row(
        "GET", "/v1/agencies/{code}/inbox", forwarded_shared, get(f"/v1/agencies/{HOLDER}/inbox")
    ),
    "inbox-desk": Row(
        "GET", "/v1/agencies/{code}/inbox", forwarded_shared, get("/v1/agencies/LAPOR/inbox")
    ),
    "desk-queue": Row("GET", "/v1/desk/queue", forwarded_shared, get("/v1/desk/queue")),
    "stats": Row("GET", "/v1/stats/{metric}", forwarded_shared, get(STATS)),
    "file": Row("POST", "/v1/commands", forwarded_shared, command(lambda w, t: filing(900))),
    "file-backdated": Row(
        "POST", "/v1/commands", forwarded_shared, command(lambda w, t: filing(901, at=backdated(w)))
    ),
    "verify": Row("POST", "/v1/commands", World.filed, command(lambda w, t: verify(t.tracking_id))),
    "start": Row("POST", "/v1/commands", World.forwarded, command(start)),
    "start-backdated": Row(
        "POST",
        "/v1/commands",
        World.forwarded,
        command(lambda w, t: start(w, t) | {"at": backdated(w)}),
    ),
    "start-as-reporter": Row(
        "POST",
        "/v1/commands",
        World.forwarded,
        command(lambda w, t: start(w, t) | {"actor": as_reporter(w, t)}),
    ),
    "respond": Row(
        "POST",
        "/v1/commands",
        World.forwarded,
        command(
            lambda w, t: (
                {"command": "respond", "complaint": t.tracking_id, "kind": "interim"}
                | {"text": "Sedang kami periksa."}
            )
        ),
    ),
    "confirm": Row("POST", "/v1/commands", World.responded, command(confirm)),
    "confirm-as-reporter": Row(
        "POST",
        "/v1/commands",
        World.responded,
        command(lambda w, t: confirm(w, t) | {"actor": as_reporter(w, t)}),
    ),
    "warn-sla": Row("POST", "/v1/commands", World.forwarded, command(warn_sla)),
    "batch-verify": Row(
        "POST",
        "/v1/commands",
        World.filed,
        command(lambda w, t: {"commands": [verify(t.tracking_id)]}),
        batch=True,
    ),
}


O311 = "/open311/v2"
OPEN311_FILING = {
    "service_code": "bantuan-sosial",
    "description": "Bantuan sosial bulan ini belum diterima warga RT 03.",
    "first_name": "Warga",
    "last_name": "Matriks",
    "email": "warga.matriks@example.org",
    "address_string": "Jl. Melati 3, Bandung",
}

ROWS |= {
    "o311-services": Row(
        "GET", f"{O311}/services.{{format}}", forwarded_shared, get(f"{O311}/services.json")
    ),
    "o311-file": Row(
        "POST",
        f"{O311}/requests.{{format}}",
        forwarded_shared,
        lambda w, t: Request("POST", f"{O311}/requests.json", form=OPEN311_FILING),
    ),
    "o311-request": Row(
        "GET",
        f"{O311}/requests/{{service_request_id}}.{{format}}",
        forwarded_shared,
        get(f"{O311}/requests/{{id}}.json"),
    ),
    "o311-request-conf": Row(
        "GET",
        f"{O311}/requests/{{service_request_id}}.{{format}}",
        confidential_shared,
        get(f"{O311}/requests/{{id}}.json"),
    ),
    "o311-requests": Row(
        "GET", f"{O311}/requests.{{format}}", forwarded_shared, get(f"{O311}/requests.json")
    ),
}


# Webhooks (docs/webhooks.md): agency admins only, each for its own agency; another agency's
# endpoint is a 404. The endpoint a get or delete acts on is the holder's, made per cell.
HOOK = {"url": "https://hooks.example.go.id/matrix"}


def holders_webhook(method: str) -> Callable[[World, Target], Request]:
    def request(w: World, t: Target) -> Request:
        made = w.http.post("/v1/webhooks", json=HOOK, headers=w.bearer("hld"))
        assert made.status_code == 201, f"setup webhook: {made.text}"
        return Request(method, f"/v1/webhooks/{made.json()['id']}")

    return request


ROWS |= {
    "webhooks-register": Row(
        "POST", "/v1/webhooks", forwarded_shared, lambda w, t: Request("POST", "/v1/webhooks", HOOK)
    ),
    "webhooks-list": Row("GET", "/v1/webhooks", forwarded_shared, get("/v1/webhooks")),
    "webhook-get": Row(
        "GET", "/v1/webhooks/{webhook_id}", forwarded_shared, holders_webhook("GET")
    ),
    "webhook-delete": Row(
        "DELETE", "/v1/webhooks/{webhook_id}", forwarded_shared, holders_webhook("DELETE")
    ),
}


def observe(world: World, row: Row, caller: str) -> tuple[int, str]:
    """The status of `caller`'s request on `row`, and the answer (for the failure table)."""
    target = row.target(world)
    request = row.request(world, target)
    response = world.http.request(
        request.method,
        request.url,
        json=request.body,
        data=request.form,
        headers=world.credentials(caller, target),
    )
    status, text = response.status_code, response.text[:160]
    if row.batch and status == 200:
        result = response.json()["results"][0]
        status = 200 if result["ok"] else status_for(result["error"]["code"])
    return status, text


def check_row(world: World, name: str, callers: list[str] | None = None) -> None:
    """Every cell of the row; a failure lists every cell that differs, with its answer."""
    row, expected = ROWS[name], EXPECTED[name]
    wrong = []
    for caller in callers or COLUMNS:
        status, text = observe(world, row, caller)
        if status != expected[caller]:
            wrong.append(f"  {caller}: expected {expected[caller]}, got {status}: {text}")
    assert not wrong, f"row {name} ({row.method} {row.path}):\n" + "\n".join(wrong)


def app_routes(app: FastAPI) -> set[tuple[str, str]]:
    """(method, path template) of every route the app answers (HEAD is GET's echo)."""
    found = set()
    for context in iter_route_contexts(app.routes):
        for method in context.methods or ():
            if method != "HEAD" and context.path is not None:
                found.add((method, context.path))
    return found


# ----------------------------------------------------------------------- in-process
def matrix_door(tmp_path: Path) -> Door:
    """The door in memory, with limits that the matrix's many requests do not reach (the
    limits have tests of their own): wrong codes and the per-principal rate."""
    settings = door_settings(tmp_path, api_rate_burst=10_000, api_rate_per_second=10_000.0)
    lapor = in_memory_app(settings)
    small_directory(lapor)
    engine = projection_engine_at(settings.read_model_url)
    prepare(engine, live_models(settings))
    return Door(
        settings=settings,
        lapor=lapor,
        principals=InMemoryPrincipalStore(),
        access_codes=InMemoryAccessCodeStore(RateLimit(max_failures=10_000)),
        read_models=engine,
        scope=DirectoryScope(lapor),
        webhooks=webhook_store(tmp_path),
    )


def webhook_store(tmp_path: Path) -> WebhookStore:
    """The webhook tables on a SQLite file of the test's own (the door keeps them beside
    the auth tables, which the in-memory stores do not have)."""
    engine = create_engine(f"sqlite:///{tmp_path / 'door.sqlite3'}")
    auth_migrations.prepare(engine)
    return WebhookStore(engine, SecretBox.from_setting(new_key()))


def project(door: Door) -> None:
    from lapor_es.projections.core import Projector
    from lapor_es.projections.runners import LocalRunner

    lapor = door.lapor
    projector = Projector(door.read_models, live_models(door.settings))
    LocalRunner(lapor.recorder, lapor.mapper, projector).run(follow=False)


@dataclass
class InProcess:
    door: Door
    world: World


@pytest.fixture
def matrix(tmp_path: Path) -> Iterator[InProcess]:
    door = matrix_door(tmp_path)
    with TestClient(create_app(door)) as client:
        world = World(client, door.principals, door.clock).setup()
        # The complaints the read rows share exist, and are projected, before any cell.
        forwarded_shared(world), confidential_shared(world), world.other()
        project(door)
        yield InProcess(door, world)


def test_the_table_has_a_column_for_every_caller_and_a_request_for_every_row() -> None:
    callers = [*PRINCIPALS, "rep", "orp", "wcd", "non", "exp", "mal"]
    assert sorted(COLUMNS) == sorted(callers)
    assert set(EXPECTED) == set(ROWS)


def test_every_route_has_a_row(tmp_path: Path) -> None:
    app = create_app(matrix_door(tmp_path))
    routes = app_routes(app)
    covered = {(row.method, row.path) for row in ROWS.values()}
    assert routes - covered == set(), "routes without a row in MATRIX: decide who may call them"
    assert covered - routes == set(), "rows naming a route the app does not have"


@pytest.mark.parametrize("name", list(ROWS))
def test_matrix_row(matrix: InProcess, name: str) -> None:
    check_row(matrix.world, name)


# ----------------------------------------------------------------------- the rules by name
def test_agency_a_neither_reads_nor_acts_on_agency_bs_complaint(matrix: InProcess) -> None:
    w = matrix.world
    target = w.forwarded()
    for request in (
        Request("GET", f"/v1/complaints/{target.tracking_id}"),
        Request("POST", "/v1/commands", start(w, target)),
    ):
        response = w.http.request(
            request.method, request.url, json=request.body, headers=w.bearer("oth")
        )
        assert response.status_code == 404
        assert response.json()["detail"] == f"no complaint {target.tracking_id}"
    assert w.desk_view(target)["state"] == "FORWARDED"


def test_an_agency_cannot_pose_as_the_reporter(matrix: InProcess) -> None:
    w = matrix.world
    target = w.responded()
    posing = confirm(w, target) | {"actor": as_reporter(w, target)}
    refused = w.http.post("/v1/commands", json=posing, headers=w.bearer("hld"))
    assert refused.status_code == 403 and refused.headers["content-type"] == PROBLEM
    assert refused.json()["code"] == "forbidden"  # reply is not an agency's command
    acting = start(w, w.forwarded()) | {"actor": as_reporter(w, target)}
    mismatch = w.http.post("/v1/commands", json=acting, headers=w.bearer("hld"))
    assert (mismatch.status_code, mismatch.json()["code"]) == (403, "actor_mismatch")
    assert w.desk_view(target)["state"] == "RESPONDED"


def test_a_channel_cannot_verify(matrix: InProcess) -> None:
    w = matrix.world
    target = w.filed()
    response = w.http.post("/v1/commands", json=verify(target.tracking_id), headers=w.bearer("chn"))
    assert (response.status_code, response.json()["code"]) == (403, "forbidden")
    assert w.desk_view(target)["state"] == "SUBMITTED"


def test_a_reporters_code_opens_its_own_complaint_and_no_other(matrix: InProcess) -> None:
    w = matrix.world
    mine, theirs = w.responded(), w.responded()
    with_my_code = reporter(mine.tracking_id, mine.code)
    assert (
        w.http.get(f"/v1/complaints/{theirs.tracking_id}", headers=with_my_code).status_code == 404
    )
    refused = w.http.post("/v1/commands", json=confirm(w, theirs), headers=with_my_code)
    assert (refused.status_code, refused.json()["code"]) == (403, "forbidden")
    borrowed = reporter(theirs.tracking_id, mine.code)
    assert w.http.post("/v1/commands", json=confirm(w, theirs), headers=borrowed).status_code == 401
    assert w.desk_view(theirs)["state"] == "RESPONDED"


def test_revoked_expired_and_malformed_tokens_are_401_with_a_bearer_challenge(
    matrix: InProcess,
) -> None:
    w = matrix.world
    target = forwarded_shared(w)
    for caller in ("rev", "exp", "mal", "non"):
        response = w.http.get(
            f"/v1/complaints/{target.tracking_id}", headers=w.credentials(caller, target)
        )
        assert response.status_code == 401, caller
        assert response.json()["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"


def test_only_the_timer_and_the_desk_may_set_the_business_time(matrix: InProcess) -> None:
    w = matrix.world
    head = matrix.door.lapor.recorder.max_notification_id()
    at = backdated(w)
    refused = w.http.post("/v1/commands", json=filing(950, at=at), headers=w.bearer("chn"))
    assert refused.status_code == 400, refused.text
    problem = refused.json()
    assert problem["code"] == "validation_error"
    assert [(e["field"], e["rule"]) for e in problem["errors"]] == [("at", "not_allowed_for_role")]
    assert "only system and national_admin" in problem["detail"]
    assert matrix.door.lapor.recorder.max_notification_id() == head  # nothing recorded
    # Leaving `at` out, the channel files at the server's time.
    assert w.http.post("/v1/commands", json=filing(951), headers=w.bearer("chn")).is_success
    # The desk may backdate (a letter received yesterday), and the record says so.
    filed = w.ok("dsk", filing(952, at=at))
    shown = w.desk_view(Target(filed["tracking_id"], ""))["filed_at"]  # in WIB, +07:00
    assert datetime.fromisoformat(shown) == datetime.fromisoformat(at)
    # A batch refuses that one command by the same rule and runs the rest.
    target = w.forwarded()
    batch = {"commands": [start(w, target) | {"at": at}, start(w, target)]}
    results = w.http.post("/v1/commands", json=batch, headers=w.bearer("hld")).json()["results"]
    assert results[0]["error"]["code"] == "validation_error" and results[1]["ok"]
