"""POST/GET/DELETE /v1/webhooks through the door (TestClient, in-memory store, the webhook
tables on a SQLite file): agency admins, each for its own agency; the secret shown once."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine

from lapor_es.api.app import create_app
from lapor_es.auth import migrations
from lapor_es.feeds.webhook_signing import SecretBox, new_key
from lapor_es.feeds.webhook_store import WebhookStore
from tests.unit.api.conftest import Fixture, build_door, door_settings, with_roles

HOOK = {"url": "https://api.kemenkes.go.id/lapor/hook", "description": "SIMPEL"}


def webhook_fixture(tmp_path: Path, *, key: bool = True) -> Iterator[Fixture]:
    door = build_door(door_settings(tmp_path))
    engine = create_engine(f"sqlite:///{tmp_path}/door.sqlite3")
    migrations.prepare(engine)
    door.webhooks = WebhookStore(engine, SecretBox.from_setting(new_key()) if key else None)
    with TestClient(create_app(door)) as client:
        yield with_roles(Fixture(door, client))
    engine.dispose()


@pytest.fixture
def fx(tmp_path: Path) -> Iterator[Fixture]:
    yield from webhook_fixture(tmp_path)


def register(fx: Fixture, who: str, body: dict[str, str] | None = None) -> dict[str, str]:
    response = fx.client.post("/v1/webhooks", json=body or HOOK, headers=fx.headers(who))
    assert response.status_code == 201, response.text
    answer: dict[str, str] = response.json()
    return answer


def test_an_agency_registers_an_endpoint_and_sees_its_secret_once(fx: Fixture) -> None:
    made = register(fx, "kemenkes")
    assert made["agency"] == "KEMENKES" and made["url"] == HOOK["url"]
    assert made["secret"].startswith("whsec_") and made["id"].startswith("wh_")
    listed = fx.client.get("/v1/webhooks", headers=fx.headers("kemenkes")).json()
    one = fx.client.get(f"/v1/webhooks/{made['id']}", headers=fx.headers("kemenkes")).json()
    assert [w["id"] for w in listed] == [made["id"]]
    assert "secret" not in listed[0] and "secret" not in one
    assert one["deliveries"] == {}
    assert made["secret"] not in str(listed) + str(one)
    # The worker can sign with it: sealed in the database, opened with the key.
    assert fx.door.webhooks is not None
    assert fx.door.webhooks.endpoints([made["id"]])[made["id"]][1] == made["secret"]


def test_each_agency_sees_and_deletes_only_its_own(fx: Fixture) -> None:
    mine = register(fx, "kemenkes")
    theirs = register(fx, "kemensos")
    unit = register(fx, "itjen")  # KEMENKES.ITJEN: a unit is an agency of its own here
    assert unit["agency"] == "KEMENKES.ITJEN"
    listed = fx.client.get("/v1/webhooks", headers=fx.headers("kemenkes")).json()
    assert [w["id"] for w in listed] == [mine["id"]]
    for method in ("GET", "DELETE"):
        for other in (theirs, unit):
            url = f"/v1/webhooks/{other['id']}"
            answer = fx.client.request(method, url, headers=fx.headers("kemenkes"))
            assert (answer.status_code, answer.json()["code"]) == (404, "not_found")
    deleted = fx.client.delete(f"/v1/webhooks/{mine['id']}", headers=fx.headers("kemenkes"))
    assert deleted.status_code == 204 and deleted.content == b""
    assert fx.client.get("/v1/webhooks", headers=fx.headers("kemenkes")).json() == []
    gone = fx.client.delete(f"/v1/webhooks/{mine['id']}", headers=fx.headers("kemenkes"))
    assert gone.status_code == 404
    still = fx.client.get(f"/v1/webhooks/{theirs['id']}", headers=fx.headers("kemensos"))
    assert still.status_code == 200


@pytest.mark.parametrize("who", ["desk", "portal", "auditor", "analyst", "timer"])
def test_only_agency_admins_may_use_webhooks(fx: Fixture, who: str) -> None:
    answer = fx.client.post("/v1/webhooks", json=HOOK, headers=fx.headers(who))
    assert (answer.status_code, answer.json()["code"]) == (403, "forbidden")
    assert fx.client.get("/v1/webhooks", headers=fx.headers(who)).status_code == 403


@pytest.mark.parametrize(
    "body",
    [
        {"url": "http://api.kemenkes.go.id/hook"},
        {"url": "https://10.0.0.8/hook"},
        {"url": "https://127.0.0.1:9/hook"},
        {"url": "https://api.kemenkes.go.id/hook", "secret": "mine"},  # unknown field
        {"description": "no url"},
    ],
)
def test_bad_endpoints_are_refused_with_the_field_named(fx: Fixture, body: dict[str, str]) -> None:
    answer = fx.client.post("/v1/webhooks", json=body, headers=fx.headers("kemenkes"))
    assert answer.status_code == 400 and answer.json()["code"] == "validation_error"
    assert answer.json()["errors"][0]["field"] in ("url", "secret")


def test_a_malformed_id_is_a_400_and_an_unknown_one_a_404(fx: Fixture) -> None:
    bad = fx.client.get("/v1/webhooks/nope", headers=fx.headers("kemenkes"))
    unknown = fx.client.get("/v1/webhooks/wh_" + "0" * 24, headers=fx.headers("kemenkes"))
    assert (bad.status_code, unknown.status_code) == (400, 404)


def test_without_the_key_registration_is_unavailable(tmp_path: Path) -> None:
    for fx in webhook_fixture(tmp_path, key=False):
        answer = fx.client.post("/v1/webhooks", json=HOOK, headers=fx.headers("kemenkes"))
        assert (answer.status_code, answer.json()["code"]) == (503, "unavailable")
        assert fx.client.get("/v1/webhooks", headers=fx.headers("kemenkes")).json() == []
