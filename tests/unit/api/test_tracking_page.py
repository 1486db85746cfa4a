"""The door's tracking page answers the reporter (issue 10 item 4): agency names, WIB times
and the public texts on `GET /v1/complaints/{id}/timeline`; a confidential complaint's page
stays closed, and its reporter's own view has WIB times and agency names too."""

from __future__ import annotations

from tests.unit.api.conftest import Fixture
from tests.unit.api.test_commands import filing, reporter_headers, verify

ANSWER = "Pipa induk sudah kami perbaiki; air mengalir lagi sejak Senin."
NOTE = "Tolong segera ditangani, hubungi Bu Dewi"


def _answered(fx: Fixture, visibility: str) -> dict[str, str]:
    filed = fx.post("portal", filing(visibility=visibility)).json()
    tracking = filed["tracking_id"]
    assert fx.post("desk", verify(tracking, visibility=visibility, note=NOTE)).status_code == 200
    respond = {"command": "respond", "complaint": tracking, "kind": "final", "text": ANSWER}
    assert fx.post("kemenkes", respond).status_code == 200
    fx.project()
    return {"tracking_id": tracking, "code": filed["access_code"]}


def test_the_public_page_names_agencies_in_wib_with_the_answer(fx: Fixture) -> None:
    c = _answered(fx, "public")
    page = fx.client.get(f"/v1/complaints/{c['tracking_id']}/timeline")
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["filed_at"].endswith("+07:00")
    assert {e["at"][-6:] for e in body["entries"]} == {"+07:00"}
    answered = body["entries"][-1]
    assert answered["event_type"] == "Responded"
    assert (answered["agency"], answered["agency_name"]) == ("KEMENKES", "Agency KEMENKES")
    assert answered["summary"] == "Agency KEMENKES (KEMENKES) memberikan tanggapan akhir"
    assert answered["text"] == ANSWER
    assert NOTE not in page.text  # the desk's disposition note is not the public's
    assert "Dewi Lestari" not in page.text and "081298765432" not in page.text


def test_a_confidential_page_stays_closed_and_its_reporter_sees_wib(fx: Fixture) -> None:
    c = _answered(fx, "confidential")
    assert fx.client.get(f"/v1/complaints/{c['tracking_id']}/timeline").status_code == 404
    own = fx.client.get(
        f"/v1/complaints/{c['tracking_id']}",
        headers=reporter_headers(c["tracking_id"], c["code"]),
    )
    assert own.status_code == 200, own.text
    history = own.json()["history"]
    assert {e["at"][-6:] for e in history} == {"+07:00"}
    assert history[-1]["agency_name"] == "Agency KEMENKES"
