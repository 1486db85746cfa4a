"""POST /v1/commands: derived actors, validation before the store, object-level checks,
idempotency namespaced by principal, access codes, batches, problem+json."""

from __future__ import annotations

from typing import Any

from lapor_es.api.routes.commands import MAX_BATCH
from tests.unit.api.conftest import Fixture

PROBLEM = "application/problem+json"


def filing(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "command": "file",
        "title": "Air PDAM tidak mengalir",
        "description": "Sudah dua minggu air PDAM tidak mengalir di perumahan kami.",
        "category": "Air Bersih",
        "reporter": {"name": "Dewi Lestari", "phone": "081298765432"},
    }
    return body | overrides


def verify(tracking_id: str, to_agency: str = "KEMENKES", **overrides: Any) -> dict[str, Any]:
    body = {
        "command": "verify",
        "complaint": tracking_id,
        "title": "Air PDAM tidak mengalir",
        "category": "Air Bersih",
        "kind": "complaint",
        "visibility": "public",
        "to_agency": to_agency,
    }
    return body | overrides


def store_head(fx: Fixture) -> int | None:
    return fx.door.lapor.recorder.max_notification_id()


def reporter_headers(tracking_id: str, code: str) -> dict[str, str]:
    return {"X-Lapor-Tracking-Id": tracking_id, "X-Lapor-Access-Code": code}


def test_a_channel_files_with_its_own_channel_and_gets_an_access_code_once(fx: Fixture) -> None:
    response = fx.post("sms", filing())
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["ok"] is True and result["command"] == "file"
    assert result["version"] == 1 and result["state"] == "SUBMITTED"
    assert "reporter_ref" not in result  # the pseudonym stays with the desk
    complaint = fx.door.lapor.complaint(result["tracking_id"])
    assert complaint.channel == "sms-1708"  # forced by the principal, not chosen by the body
    opened = fx.door.access_codes.check(
        result["tracking_id"], result["access_code"], fx.door.clock(), client="t"
    )
    assert opened


def test_an_actor_in_the_body_that_is_not_the_callers_is_refused(fx: Fixture) -> None:
    head = store_head(fx)
    body = filing(actor={"id": "rep-" + "0" * 32, "role": "national_admin"})
    response = fx.post("portal", body)
    assert response.status_code == 403
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["code"] == "actor_mismatch" and problem["status"] == 403
    assert problem["type"].endswith("/actor_mismatch") and problem["title"] == "Forbidden"
    other_channel = fx.post("portal", filing(channel="sms-1708"))
    assert other_channel.json()["code"] == "actor_mismatch"
    assert store_head(fx) == head


def test_roles_keep_to_their_commands(fx: Fixture) -> None:
    tracking = fx.post("portal", filing()).json()["tracking_id"]
    head = store_head(fx)
    for who, body in [
        ("portal", verify(tracking)),  # a channel cannot verify
        ("kemenkes", filing()),  # an agency cannot file
        ("kemenkes", {"command": "reply", "complaint": tracking, "kind": "confirm", "text": "x"}),
        ("analyst", verify(tracking)),
        ("auditor", verify(tracking)),
    ]:
        response = fx.post(who, body)
        assert (response.status_code, response.json()["code"]) == (403, "forbidden"), who
    assert store_head(fx) == head


def test_no_or_bad_credentials_are_401(fx: Fixture) -> None:
    missing = fx.client.post("/v1/commands", json=filing())
    assert missing.status_code == 401 and missing.json()["code"] == "unauthenticated"
    assert missing.headers["www-authenticate"] == "Bearer"
    bad = fx.client.post(
        "/v1/commands", json=filing(), headers={"Authorization": "Bearer lpr_nope"}
    )
    assert bad.status_code == 401
    revoked = fx.door.principals.list()[0]
    fx.door.principals.revoke(revoked.id, fx.door.clock())
    gone = fx.post(revoked.name, filing())
    assert gone.status_code == 401


def test_an_invalid_command_names_the_field_and_rule_and_never_reaches_the_store(
    fx: Fixture,
) -> None:
    head = store_head(fx)
    response = fx.post("portal", filing(title="x", reporter={"name": "Dewi"}))
    assert response.status_code == 400
    problem = response.json()
    assert problem["code"] == "validation_error"
    fields = {(e["field"], e["rule"]) for e in problem["errors"]}
    assert ("title", "string_too_short") in fields
    assert any(f == "reporter" and r == "value_error" for f, r in fields)
    unknown = fx.post("desk", {"command": "teleport"})
    assert unknown.status_code == 400 and unknown.json()["code"] == "validation_error"
    not_json = fx.client.post(
        "/v1/commands",
        content=b"{not json",
        headers=fx.headers("portal") | {"content-type": "application/json"},
    )
    assert not_json.status_code == 400 and not_json.json()["code"] == "validation_error"
    assert store_head(fx) == head


def test_idempotency_keys_are_per_principal_and_a_replay_reissues_the_code(fx: Fixture) -> None:
    first = fx.post("portal", filing(idempotency_key="portal-0001"))
    assert first.status_code == 201
    again = fx.post("portal", filing(idempotency_key="portal-0001"))
    assert again.status_code == 200
    replay = again.json()
    assert replay["duplicate"] is True
    tracking = first.json()["tracking_id"]
    assert replay["tracking_id"] == tracking
    old, new = first.json()["access_code"], replay["access_code"]
    now = fx.door.clock()
    assert not fx.door.access_codes.check(tracking, old, now, client="t")
    assert fx.door.access_codes.check(tracking, new, now, client="t")
    # Another channel with the same key files its own complaint: no replay across principals.
    other = fx.post("sms", filing(idempotency_key="portal-0001"))
    assert other.status_code == 201 and other.json()["tracking_id"] != tracking


def test_an_agency_acts_only_on_what_it_holds_and_cannot_tell_it_from_nothing(
    fx: Fixture,
) -> None:
    tracking = fx.post("portal", filing()).json()["tracking_id"]
    assert fx.post("desk", verify(tracking)).status_code == 200
    start = {"command": "start", "complaint": tracking}
    elsewhere = fx.post("kemensos", start)
    nowhere = fx.post("kemensos", {"command": "start", "complaint": "LAP-2026-0999999"})
    assert elsewhere.status_code == nowhere.status_code == 404
    assert elsewhere.json()["detail"] == f"no complaint {tracking}"
    unit = fx.post("itjen", start)  # a unit does not act on what its parent holds
    assert unit.status_code == 404
    mine = fx.post("kemenkes", start)
    assert mine.status_code == 200 and mine.json()["state"] == "IN_PROGRESS"
    twice = fx.post("kemenkes", start)
    assert (twice.status_code, twice.json()["code"]) == (409, "invalid_transition")


def test_the_reporter_journey_with_the_access_code(fx: Fixture) -> None:
    filed = fx.post("portal", filing()).json()
    other = fx.post("portal", filing(title="Laporan lain sekali")).json()
    tracking, code = filed["tracking_id"], filed["access_code"]
    fx.post("desk", verify(tracking))
    respond = {
        "command": "respond",
        "complaint": tracking,
        "kind": "final",
        "text": "Selesai ditangani petugas.",
    }
    assert fx.post("kemenkes", respond).status_code == 200
    mine = reporter_headers(tracking, code)
    confirm = {"command": "reply", "complaint": tracking, "kind": "confirm", "text": "Terima kasih"}
    someone_elses = fx.client.post(
        "/v1/commands", json=confirm | {"complaint": other["tracking_id"]}, headers=mine
    )
    assert (someone_elses.status_code, someone_elses.json()["code"]) == (403, "forbidden")
    wrong_code = fx.client.post(
        "/v1/commands", json=confirm, headers=reporter_headers(tracking, other["access_code"])
    )
    assert wrong_code.status_code == 401
    done = fx.client.post("/v1/commands", json=confirm, headers=mine)
    assert done.status_code == 200, done.text
    assert done.json()["state"] == "RESOLVED"
    assert fx.door.lapor.complaint(tracking).resolution_mode == "confirmed_by_reporter"


def test_wrong_access_codes_are_rate_limited_with_retry_after(fx: Fixture) -> None:
    tracking = fx.post("portal", filing()).json()["tracking_id"]
    headers = reporter_headers(tracking, "AAAA-AAAA-AAAA-AAAA-AAAA")
    statuses = [
        fx.client.get(f"/v1/complaints/{tracking}", headers=headers).status_code for _ in range(7)
    ]
    assert statuses[:5] == [401] * 5 and statuses[-1] == 429
    limited = fx.client.get(f"/v1/complaints/{tracking}", headers=headers)
    assert limited.json()["code"] == "too_many_attempts"
    assert int(limited.headers["retry-after"]) > 0


def test_a_batch_answers_each_command_in_order_like_exec(fx: Fixture) -> None:
    tracking = fx.post("portal", filing()).json()["tracking_id"]
    batch = {
        "commands": [
            verify(tracking),
            {"command": "postpone", "complaint": tracking, "reason": "x"},
            {"command": "archive", "complaint": tracking, "reason": "too_general"},
            "not an object",
        ]
    }
    response = fx.post("desk", batch)
    assert response.status_code == 200
    results = response.json()["results"]
    assert [r["line"] for r in results] == [1, 2, 3, 4]
    assert results[0]["ok"] and results[0]["state"] == "FORWARDED"
    assert results[1]["error"]["code"] == "validation_error"  # reason too short
    assert results[2]["error"]["code"] == "invalid_transition"  # already forwarded
    assert results[3]["error"]["code"] == "validation_error"
    too_many = fx.post("desk", {"commands": [verify(tracking)] * (MAX_BATCH + 1)})
    assert too_many.status_code == 400 and too_many.json()["errors"][0]["field"] == "commands"
    empty = fx.post("desk", {"commands": []})
    assert empty.status_code == 400
