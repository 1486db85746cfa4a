"""The door's two filing routes take the identity a channel really has (issue 10 item 8):
the SMS gateway files with only the sender's phone, natively and through Open311; a web
portal's nameless Open311 request is filed anonymous, with no invented name."""

from __future__ import annotations

from typing import Any

from tests.unit.api.conftest import Fixture
from tests.unit.api.test_open311 import BASE, form


def filing(reporter: dict[str, Any]) -> dict[str, Any]:
    return {
        "command": "file",
        "title": "Lampu jalan mati",
        "description": "Lampu jalan di Jalan Merdeka mati sejak tiga hari.",
        "reporter": reporter,
    }


def test_the_sms_gateway_files_with_only_a_phone(fx: Fixture) -> None:
    response = fx.post("sms", filing({"phone": "081311112222"}))
    assert response.status_code == 201, response.text
    result = response.json()
    assert result["ok"] is True, result
    complaint = fx.door.lapor.complaint(result["tracking_id"])
    assert complaint.channel == "sms-1708"
    identity = fx.door.lapor.identity(complaint)
    assert identity is not None
    assert (identity.name, identity.phone) == (None, "081311112222")


def test_the_sms_gateway_without_a_phone_is_refused_naming_it(fx: Fixture) -> None:
    response = fx.post("sms", filing({"email": "warga@example.id"}))
    assert response.status_code == 400, response.text
    problem = response.json()
    assert problem["code"] == "validation_error", problem
    [detail] = problem["errors"]
    assert (detail["field"], detail["rule"]) == ("reporter", "channel_identity")
    assert detail["message"].startswith("reporter.phone is required")


def test_open311_a_phone_only_request_through_the_sms_gateway(fx: Fixture) -> None:
    body = form(first_name="", last_name="", email="") | {"api_key": fx.tokens["sms"]}
    response = fx.client.post(f"{BASE}/requests.json", data=body)
    assert response.status_code == 201, response.text
    tracking_id = response.json()[0]["service_request_id"]
    identity = fx.door.lapor.identity(fx.door.lapor.complaint(tracking_id))
    assert identity is not None
    assert (identity.name, identity.phone, identity.email) == (None, "081298765432", None)


def test_open311_a_nameless_web_request_is_anonymous_with_no_invented_name(fx: Fixture) -> None:
    body = form(first_name="", last_name="") | {"api_key": fx.tokens["portal"]}
    response = fx.client.post(f"{BASE}/requests.json", data=body)
    assert response.status_code == 201, response.text
    complaint = fx.door.lapor.complaint(response.json()[0]["service_request_id"])
    assert complaint.visibility == "anonymous"
    identity = fx.door.lapor.identity(complaint)
    assert identity is not None and identity.name is None  # was "Anonim"
    # Asked public, a nameless web request is refused with the Open311 field names.
    public = body | {"attribute[visibility]": "public"}
    refused = fx.client.post(f"{BASE}/requests.json", data=public)
    assert refused.status_code == 400
    assert refused.json()[0]["description"].startswith("first_name/last_name is required")
