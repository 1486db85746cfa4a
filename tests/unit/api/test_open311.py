"""Open311 GeoReport v2 on the door, field by field against the spec (names, types, W3C
datetimes with offset), its filters, and its errors (a JSON list of {code, description})."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

import httpx

from lapor_es.readmodels.open311 import SERVICES
from lapor_es.workflow import JAKARTA
from tests.support.open311 import REQUEST_FIELDS
from tests.unit.api.conftest import Fixture

SERVICE_FIELDS = {
    "service_code",
    "service_name",
    "description",
    "metadata",
    "type",
    "keywords",
    "group",
}
TRACKING = re.compile(r"^LAP-[0-9]{4}-[0-9]{7}$")
BASE = "/open311/v2"


def form(**overrides: str) -> dict[str, str]:
    fields = {
        "service_code": "air-bersih",
        "lat": "-6.2088",
        "long": "106.8456",
        "address_string": "Jl. Melati 5, Bekasi",
        "description": "Air PDAM tidak mengalir sejak dua minggu di perumahan kami.",
        "first_name": "Dewi",
        "last_name": "Lestari",
        "email": "dewi@example.id",
        "phone": "081298765432",
        "account_id": "fms-42",
        "media_url": "https://foto.example.id/pdam.jpg",
    }
    return fields | overrides


def file_request(fx: Fixture, who: str = "portal", **overrides: str) -> httpx.Response:
    body = form(**overrides) | {"api_key": fx.tokens[who]}
    response: httpx.Response = fx.client.post(f"{BASE}/requests.json", data=body)
    return response


def filed_id(fx: Fixture, **overrides: str) -> str:
    response = file_request(fx, **overrides)
    assert response.status_code == 201, response.text
    tracking_id: str = response.json()[0]["service_request_id"]
    return tracking_id


def one(fx: Fixture, tracking_id: str) -> dict[str, Any]:
    response = fx.client.get(f"{BASE}/requests/{tracking_id}.json")
    assert response.status_code == 200, response.text
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    item: dict[str, Any] = body[0]
    return item


def listed(fx: Fixture, **params: str) -> list[str]:
    response = fx.client.get(f"{BASE}/requests.json", params=params)
    assert response.status_code == 200, response.text
    return [r["service_request_id"] for r in response.json()]


def store_head(fx: Fixture) -> int | None:
    return fx.door.lapor.recorder.max_notification_id()


def assert_error(response: httpx.Response, status: int, words: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert isinstance(body, list) and len(body) == 1
    assert set(body[0]) == {"code", "description"}
    assert body[0]["code"] == status
    assert words in body[0]["description"], body[0]["description"]


def w3c(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, f"{text} has no offset"
    return parsed


def verify(tracking_id: str, **overrides: str) -> dict[str, Any]:
    body = {
        "command": "verify",
        "complaint": tracking_id,
        "title": "Air PDAM tidak mengalir",
        "category": "Sanitasi dan Air Bersih",
        "kind": "complaint",
        "visibility": "public",
        "to_agency": "KEMENKES",
    }
    return body | overrides


# ---------------------------------------------------------------- services
def test_services_are_the_categories_with_every_spec_field(fx: Fixture) -> None:
    response = fx.client.get(f"{BASE}/services.json")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    services = response.json()
    assert [s["service_code"] for s in services] == [s.code for s in SERVICES]
    for service in services:
        assert set(service) == SERVICE_FIELDS
        assert service["metadata"] is False and service["type"] == "realtime"
        for name in ("service_code", "service_name", "description", "keywords", "group"):
            assert isinstance(service[name], str) and service[name]
    water = next(s for s in services if s["service_code"] == "air-bersih")
    assert water["service_name"] == "Sanitasi dan Air Bersih"
    assert "pdam" in water["keywords"].split(",")


def test_only_json_is_served(fx: Fixture) -> None:
    tracking_id = filed_id(fx)
    for response in (
        fx.client.get(f"{BASE}/services.xml"),
        fx.client.get(f"{BASE}/requests.xml"),
        fx.client.get(f"{BASE}/requests/{tracking_id}.xml"),
        fx.client.post(f"{BASE}/requests.xml", data=form() | {"api_key": fx.tokens["portal"]}),
    ):
        assert_error(response, 400, "only JSON")


# ---------------------------------------------------------------- filing
def test_a_channel_files_with_its_api_key_and_gets_the_spec_answer(fx: Fixture) -> None:
    response = file_request(fx, who="sms")
    assert response.status_code == 201, response.text
    assert response.headers["content-type"] == "application/json"
    [created] = response.json()
    assert set(created) == {"service_request_id", "service_notice", "account_id", "access_code"}
    tracking_id = created["service_request_id"]
    assert TRACKING.match(tracking_id)
    assert created["account_id"] == "fms-42"
    assert tracking_id in created["service_notice"]
    opened = fx.door.access_codes.check(
        tracking_id, created["access_code"], fx.door.clock(), client="t"
    )
    assert opened

    complaint = fx.door.lapor.complaint(tracking_id)
    assert complaint.channel == "sms-1708"  # the principal's channel
    assert complaint.category == "Sanitasi dan Air Bersih"
    assert complaint.visibility == "public"
    assert complaint.location == "Jl. Melati 5, Bekasi; geo:-6.2088,106.8456"
    assert complaint.title.startswith("Sanitasi dan Air Bersih: Air PDAM")
    identity = fx.door.lapor.identity(complaint)
    assert identity is not None
    assert (identity.name, identity.email, identity.phone) == (
        "Dewi Lestari",
        "dewi@example.id",
        "081298765432",
    )


def test_the_bearer_header_works_as_the_api_key(fx: Fixture) -> None:
    response = fx.client.post(f"{BASE}/requests.json", data=form(), headers=fx.headers("portal"))
    assert response.status_code == 201, response.text
    assert fx.door.lapor.complaint(response.json()[0]["service_request_id"]).channel == "web"


def test_without_a_name_the_report_is_anonymous(fx: Fixture) -> None:
    tracking_id = filed_id(fx, first_name="", last_name="")
    complaint = fx.door.lapor.complaint(tracking_id)
    assert complaint.visibility == "anonymous"
    chosen = filed_id(fx, **{"attribute[visibility]": "confidential"})
    assert fx.door.lapor.complaint(chosen).visibility == "confidential"


def test_keys_that_may_not_file_get_403_and_nothing_is_stored(fx: Fixture) -> None:
    head = store_head(fx)
    url = f"{BASE}/requests.json"
    assert_error(fx.client.post(url, data=form()), 403, "api_key is required")
    assert_error(fx.client.post(url, data=form(api_key="lpr_x_y")), 403, "unknown, revoked")
    for who in ("kemenkes", "desk", "auditor"):
        assert_error(file_request(fx, who=who), 403, "only a channel")
    portal = next(p for p in fx.door.principals.list() if p.name == "portal")
    fx.door.principals.revoke(portal.id, fx.door.clock())
    assert_error(file_request(fx, who="portal"), 403, "unknown, revoked")
    assert store_head(fx) == head


def test_bad_forms_are_refused_by_field_before_the_store(fx: Fixture) -> None:
    head = store_head(fx)
    cases: list[tuple[dict[str, str], int, str]] = [
        ({"service_code": ""}, 400, "service_code is required"),
        ({"service_code": "jalan-rusak"}, 404, "no service 'jalan-rusak'"),
        ({"description": ""}, 400, "description is required"),
        ({"description": "pendek"}, 400, "description"),
        ({"lat": "", "long": "", "address_string": ""}, 400, "a location is required"),
        ({"long": ""}, 400, "lat and long go together"),
        ({"lat": "utara"}, 400, "lat must be a decimal number"),
        ({"lat": "91"}, 400, "lat must be between -90 and 90"),
        ({"phone": "12345", "email": ""}, 400, "phone"),
        ({"phone": "", "email": ""}, 400, "nik, phone, email or social_handle"),
        ({"media_url": "file:///etc/passwd"}, 400, "media_url must be an http(s) URL"),
        ({"attribute[visibility]": "secret"}, 400, "attribute[visibility] must be one of"),
        ({"attribute[colour]": "red"}, 400, "unknown attribute(s) attribute[colour]"),
    ]
    for overrides, status, words in cases:
        assert_error(file_request(fx, **overrides), status, words)
    as_json = fx.client.post(
        f"{BASE}/requests.json", json=form() | {"api_key": fx.tokens["portal"]}
    )
    assert_error(as_json, 403, "api_key is required")  # not a form: nothing was read
    assert store_head(fx) == head


# ---------------------------------------------------------------- one request
def test_one_request_field_by_field(fx: Fixture) -> None:
    tracking_id = filed_id(fx)
    item = one(fx, tracking_id)
    assert set(item) == REQUEST_FIELDS
    complaint = fx.door.lapor.complaint(tracking_id)
    assert item["service_request_id"] == tracking_id
    assert item["status"] == "open" and item["status_notes"] is None
    assert (item["service_code"], item["service_name"]) == ("air-bersih", "Sanitasi dan Air Bersih")
    assert item["description"] == form()["description"]  # the media line taken back out
    assert item["media_url"] == "https://foto.example.id/pdam.jpg"
    assert item["agency_responsible"] == "Agency LAPOR"  # at the desk
    assert item["service_notice"] == "Belum Terverifikasi"
    assert w3c(item["requested_datetime"]) == complaint.filed_at
    assert w3c(item["updated_datetime"]) == complaint.last_event_at
    assert w3c(item["expected_datetime"]) == complaint.due_at  # the verification clock
    assert item["address"] == "Jl. Melati 5, Bekasi"
    assert (item["lat"], item["long"]) == (-6.2088, 106.8456)
    assert item["address_id"] is None and item["zipcode"] is None
    text = fx.client.get(f"{BASE}/requests/{tracking_id}.json").text
    for personal in ("Dewi", "Lestari", "dewi@example.id", "081298765432", "fms-42"):
        assert personal not in text


def test_a_request_follows_the_complaint_to_closed(fx: Fixture) -> None:
    response = file_request(fx)
    tracking_id, code = (response.json()[0][k] for k in ("service_request_id", "access_code"))
    assert fx.post("desk", verify(tracking_id)).status_code == 200
    forwarded = one(fx, tracking_id)
    complaint = fx.door.lapor.complaint(tracking_id)
    assert forwarded["agency_responsible"] == "Agency KEMENKES"
    assert w3c(forwarded["expected_datetime"]) == complaint.due_at  # the follow-up clock
    respond = {
        "command": "respond",
        "complaint": tracking_id,
        "kind": "final",
        "text": "Pipa diganti oleh petugas.",
    }
    assert fx.post("kemenkes", respond).status_code == 200
    responded = one(fx, tracking_id)
    assert (
        responded["status"] == "open" and responded["status_notes"] == "Pipa diganti oleh petugas."
    )
    confirm = {
        "command": "reply",
        "complaint": tracking_id,
        "kind": "confirm",
        "text": "Terima kasih",
    }
    headers = {"X-Lapor-Tracking-Id": tracking_id, "X-Lapor-Access-Code": code}
    assert fx.client.post("/v1/commands", json=confirm, headers=headers).status_code == 200
    closed = one(fx, tracking_id)
    assert closed["status"] == "closed" and closed["service_notice"] == "Terdisposisi, Selesai"
    assert closed["expected_datetime"] is None  # no clock runs once resolved
    assert w3c(closed["updated_datetime"]) > w3c(closed["requested_datetime"])


def test_unknown_malformed_and_confidential_requests_are_the_same_404(fx: Fixture) -> None:
    secret = filed_id(fx, **{"attribute[visibility]": "confidential"})
    for tracking_id in (secret, "LAP-2026-9999999", "not-an-id"):
        assert_error(fx.client.get(f"{BASE}/requests/{tracking_id}.json"), 404, "no request")


def test_an_anonymous_request_shows_no_reporter(fx: Fixture) -> None:
    tracking_id = filed_id(fx, first_name="Rahasia", last_name="Sekali")
    fx.post("desk", verify(tracking_id, visibility="anonymous"))
    item = one(fx, tracking_id)
    assert set(item) == REQUEST_FIELDS  # no reporter field exists to leak
    assert "Rahasia" not in fx.client.get(f"{BASE}/requests/{tracking_id}.json").text


# ---------------------------------------------------------------- the list
def test_the_list_filters_as_the_spec_says(fx: Fixture) -> None:
    water = filed_id(fx)
    school = filed_id(
        fx, service_code="pendidikan", description="Sekolah rusak parah sejak banjir."
    )
    secret = filed_id(fx, **{"attribute[visibility]": "confidential"})
    native = fx.post(
        "portal",
        {
            "command": "file",
            "title": "Lampu jalan padam",
            "description": "Lampu jalan di depan pasar padam sejak minggu lalu.",
            "category": "Penerangan Jalan",
            "reporter": {"name": "Budi Santoso", "phone": "081211112222"},
        },
    ).json()["tracking_id"]
    fx.post("desk", verify(school, category="Pendidikan dan Kebudayaan"))
    respond = {
        "command": "respond",
        "complaint": school,
        "kind": "final",
        "text": "Diperbaiki oleh petugas.",
    }
    fx.post("kemenkes", respond)
    fx.post(
        "desk",
        {
            "command": "resolve",
            "complaint": school,
            "mode": "by_admin",
            "note": "Ditutup admin setelah konfirmasi.",
        },
    )
    fx.project()

    everything = listed(fx)
    assert everything == [native, school, water]  # newest first; never the confidential one
    assert secret not in everything
    assert listed(fx, service_code="air-bersih") == [water]
    assert listed(fx, service_code="lainnya") == [native]  # outside the catalog
    assert listed(fx, service_code="air-bersih,pendidikan") == [school, water]
    assert listed(fx, status="closed") == [school]
    assert listed(fx, status="open") == [native, water]
    assert listed(fx, status="open,closed") == everything
    ids = f"{water},{secret},LAP-2026-9999999"
    assert listed(fx, service_request_id=ids, status="closed") == [water]  # overrides the rest
    filed_at = fx.door.lapor.complaint(school).filed_at
    assert listed(fx, start_date=(filed_at + timedelta(hours=1)).isoformat()) == []
    assert listed(fx, end_date=(filed_at - timedelta(hours=1)).isoformat()) == []
    day = filed_at.date().isoformat()
    assert set(listed(fx, start_date=day)) == set(everything)
    item = fx.client.get(f"{BASE}/requests.json", params={"service_code": "pendidikan"}).json()[0]
    assert item == one(fx, school)  # the same object in a list as on its own


def test_without_dates_the_list_shows_the_last_90_days(fx: Fixture) -> None:
    tracking_id = filed_id(fx)
    fx.project()
    filed_at = fx.door.lapor.complaint(tracking_id).filed_at
    fx.door.clock = lambda: filed_at + timedelta(days=89)
    assert listed(fx) == [tracking_id]
    fx.door.clock = lambda: filed_at + timedelta(days=91)
    assert listed(fx) == []
    assert listed(fx, start_date=(filed_at - timedelta(days=1)).isoformat()) == [tracking_id]


def test_bad_list_filters_are_400_or_404(fx: Fixture) -> None:
    url = f"{BASE}/requests.json"
    assert_error(fx.client.get(url, params={"status": "pending"}), 400, "status must be")
    assert_error(fx.client.get(url, params={"service_code": "x"}), 404, "no service 'x'")
    assert_error(fx.client.get(url, params={"start_date": "kemarin"}), 400, "start_date")
    naive = fx.client.get(url, params={"end_date": "2026-03-01T00:00:00"})
    assert_error(naive, 400, "with an offset")
    backwards = {"start_date": "2026-03-02T00:00:00Z", "end_date": "2026-03-01T00:00:00Z"}
    assert_error(fx.client.get(url, params=backwards), 400, "after end_date")


def test_an_unencoded_plus_in_a_date_is_read_as_the_offset(fx: Fixture) -> None:
    tracking_id = filed_id(fx)
    fx.project()
    start = (fx.door.lapor.complaint(tracking_id).filed_at - timedelta(days=1)).astimezone(JAKARTA)
    raw = start.strftime("%Y-%m-%dT%H:%M:%S+07:00")  # sent as is: the + arrives as a space
    response = fx.client.get(f"{BASE}/requests.json?start_date={raw}")
    assert response.status_code == 200, response.text
    assert [r["service_request_id"] for r in response.json()] == [tracking_id]
