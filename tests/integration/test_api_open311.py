"""An Open311 GeoReport v2 conversation with a real `lapor-es serve` process on real
PostgreSQL: a plain httpx client using only the spec's fields (services -> POST -> GET one
-> list with filters), checked field by field. The desk and the agency move the complaint
on through the native API in between, as they would."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from lapor_es.aggregates.values import Channel
from lapor_es.application import utc_now
from lapor_es.auth.principals import PrincipalRole
from lapor_es.bootstrap import principal_store
from lapor_es.config import Settings
from tests.conftest import fresh_postgres_database
from tests.support.cli import cli
from tests.support.open311 import REQUEST_FIELDS
from tests.support.server import Server, server_env, start_server

pytestmark = [pytest.mark.integration, pytest.mark.postgres]

LIST_DEADLINE = 60.0  # seconds for the server's projector to reach the last event
DESK_NAME = "Admin Nasional SP4N-LAPOR! (KemenPANRB)"  # data/agencies.csv
KEMENKES_NAME = "Kementerian Kesehatan"


@pytest.fixture
def database(postgres_server: str, tmp_path: Path) -> str:
    url = fresh_postgres_database(postgres_server)
    loaded = cli(tmp_path, "agencies", "load", env=server_env(url))
    assert loaded.returncode == 0, loaded.stderr
    return url


@pytest.fixture
def server(database: str, tmp_path: Path) -> Iterator[Server]:
    running = start_server(database, tmp_path, "--project")
    yield running
    running.stop()


def tokens(database: str) -> dict[str, str]:
    settings = Settings(_env_file=None, database_url=database, reporter_pepper="test-pepper")
    store = principal_store(settings)
    now = utc_now()
    issued = {
        "fixmystreet": store.add(
            "fixmystreet", PrincipalRole.CHANNEL, channel=Channel.API, now=now
        ),
        "desk": store.add("desk-officer", PrincipalRole.NATIONAL_ADMIN, now=now),
        "kemenkes": store.add("kemenkes", PrincipalRole.AGENCY_ADMIN, agency="KEMENKES", now=now),
    }
    return {who: token for who, (_, token) in issued.items()}


def w3c(text: str) -> datetime:
    parsed = datetime.fromisoformat(text)
    assert parsed.tzinfo is not None, f"{text} has no offset"
    return parsed


def post_request(http: httpx.Client, api_key: str, **fields: str) -> str:
    response = http.post("/open311/v2/requests.json", data={"api_key": api_key, **fields})
    assert response.status_code == 201, response.text
    [created] = response.json()
    assert set(created) >= {"service_request_id", "service_notice", "account_id"}
    assert re.match(r"^LAP-\d{4}-\d{7}$", created["service_request_id"])
    tracking_id: str = created["service_request_id"]
    return tracking_id


def get_one(http: httpx.Client, tracking_id: str) -> dict[str, Any]:
    response = http.get(f"/open311/v2/requests/{tracking_id}.json")
    assert response.status_code == 200, response.text
    [item] = response.json()
    assert set(item) == REQUEST_FIELDS
    return dict(item)


def get_list(http: httpx.Client, **params: str) -> list[str]:
    response = http.get("/open311/v2/requests.json", params=params)
    assert response.status_code == 200, response.text
    return [r["service_request_id"] for r in response.json()]


def wait_listed(http: httpx.Client, server: Server, expected: list[str], **params: str) -> None:
    """Until the list (read through the server's projector) shows `expected`."""
    deadline = time.monotonic() + LIST_DEADLINE
    shown: list[str] = []
    while time.monotonic() < deadline:
        shown = get_list(http, **params)
        if shown == expected:
            return
        time.sleep(0.2)
    raise AssertionError(
        f"requests.json?{params} showed {shown}, not {expected}, within {LIST_DEADLINE:g} s "
        f"(the projector following the store)\n{server.log_tail()}"
    )


def test_an_open311_conversation(database: str, server: Server) -> None:
    token = tokens(database)
    with httpx.Client(base_url=server.base_url, timeout=30.0) as http:
        # services
        services = http.get("/open311/v2/services.json")
        assert services.status_code == 200
        water = next(s for s in services.json() if s["service_code"] == "air-bersih")
        assert water == {
            "service_code": "air-bersih",
            "service_name": "Sanitasi dan Air Bersih",
            "description": water["description"],
            "metadata": False,
            "type": "realtime",
            "keywords": "air,pdam,sanitasi",
            "group": "Infrastruktur",
        }

        # POST: only the spec's fields
        report = {
            "service_code": "air-bersih",
            "lat": "-6.9175",
            "long": "107.6191",
            "address_string": "Jl. Asia Afrika 8, Bandung",
            "description": "Pipa air bersih bocor di depan gedung merdeka sejak kemarin.",
            "first_name": "Asep",
            "last_name": "Sunandar",
            "email": "asep@example.id",
            "phone": "081377778888",
            "media_url": "https://foto.example.id/pipa.jpg",
        }
        water_id = post_request(http, token["fixmystreet"], **report)
        school_id = post_request(
            http,
            token["fixmystreet"],
            service_code="pendidikan",
            address_string="SDN 3 Cimahi",
            description="Atap ruang kelas 4 runtuh, murid belajar di teras.",
            email="orangtua@example.id",
        )
        secret_id = post_request(
            http,
            token["fixmystreet"],
            service_code="air-bersih",
            address_string="Jl. Braga 1",
            description="Laporan rahasia tentang pungutan liar sambungan PDAM.",
            phone="081399990000",
            **{"attribute[visibility]": "confidential"},
        )

        # GET one, field by field
        filed = get_one(http, water_id)
        assert filed["status"] == "open" and filed["status_notes"] is None
        assert (filed["service_code"], filed["service_name"]) == (
            "air-bersih",
            water["service_name"],
        )
        assert filed["description"] == report["description"]
        assert filed["agency_responsible"] == DESK_NAME
        assert filed["service_notice"] == "Belum Terverifikasi"
        requested = w3c(filed["requested_datetime"])
        assert abs(requested - utc_now()) < timedelta(minutes=10)
        assert w3c(filed["updated_datetime"]) == requested
        assert w3c(filed["expected_datetime"]) > requested  # the verification clock
        assert filed["address"] == "Jl. Asia Afrika 8, Bandung"
        assert (filed["lat"], filed["long"]) == (-6.9175, 107.6191)
        assert filed["media_url"] == "https://foto.example.id/pipa.jpg"
        assert filed["address_id"] is None and filed["zipcode"] is None
        one_text = http.get(f"/open311/v2/requests/{water_id}.json").text
        for personal in ("Asep", "Sunandar", "asep@example.id", "081377778888"):
            assert personal not in one_text
        unseen = http.get(f"/open311/v2/requests/{secret_id}.json")
        assert unseen.status_code == 404 and unseen.json()[0]["code"] == 404

        # the desk forwards it, the agency answers (native API)
        desk = {"Authorization": f"Bearer {token['desk']}"}
        verify = {
            "command": "verify",
            "complaint": water_id,
            "title": "Pipa air bocor",
            "category": "Sanitasi dan Air Bersih",
            "kind": "complaint",
            "visibility": "public",
            "to_agency": "KEMENKES",
        }
        assert http.post("/v1/commands", json=verify, headers=desk).status_code == 200
        answer = {
            "command": "respond",
            "complaint": water_id,
            "kind": "interim",
            "text": "Petugas dijadwalkan memperbaiki pipa besok pagi.",
        }
        agency = {"Authorization": f"Bearer {token['kemenkes']}"}
        assert http.post("/v1/commands", json=answer, headers=agency).status_code == 200

        followed = get_one(http, water_id)
        assert followed["status"] == "open"
        assert followed["status_notes"] == answer["text"]
        assert followed["agency_responsible"] == KEMENKES_NAME
        assert w3c(followed["updated_datetime"]) > requested
        assert w3c(followed["expected_datetime"]) > w3c(followed["updated_datetime"])

        # the list, with the spec's filters
        wait_listed(http, server, [school_id, water_id])  # newest first; never confidential
        assert get_list(http, service_code="air-bersih") == [water_id]
        assert get_list(http, service_code="pendidikan", status="open") == [school_id]
        assert get_list(http, status="closed") == []
        day_before = (requested - timedelta(days=1)).isoformat()
        assert get_list(http, start_date=day_before, end_date=utc_now().isoformat()) == [
            school_id,
            water_id,
        ]
        assert get_list(http, end_date=day_before) == []
        ids = ",".join((water_id, secret_id, school_id))
        assert get_list(http, service_request_id=ids) == [school_id, water_id]
        listed = http.get("/open311/v2/requests.json", params={"service_code": "air-bersih"})
        assert listed.json() == [followed]  # a request reads the same in a list
