"""Issue 10 items 6 and 7 through the HTTP door: the desk queue proposes the reporter's chosen
agency, `verify` without `to_agency` sends it there (an override needs a reason), and the desk
merges a forwarded duplicate: it leaves the agency's inbox and the original's tracking page
tells the merge."""

from __future__ import annotations

from typing import Any

from tests.unit.api.conftest import Fixture
from tests.unit.api.test_commands import filing

REASON = "Layanan bansos: kewenangan Kementerian Sosial"


def verify(tracking_id: str, **more: Any) -> dict[str, Any]:
    return {
        "command": "verify",
        "complaint": tracking_id,
        "title": "Air PDAM tidak mengalir",
        "category": "Air Bersih",
        "kind": "complaint",
        "visibility": "public",
    } | more


def file(fx: Fixture, **overrides: Any) -> str:
    return str(fx.post("portal", filing(**overrides)).json()["tracking_id"])


def test_the_desk_confirms_or_overrides_the_chosen_agency(fx: Fixture) -> None:
    kept, moved = file(fx, target_agency="KEMENKES"), file(fx, target_agency="KEMENKES")
    fx.project()
    queue = fx.client.get("/v1/desk/queue", headers=fx.headers("desk")).json()["queue"]
    assert {(i["tracking_id"], i["proposed_agency"]) for i in queue} == {
        (kept, "KEMENKES"),
        (moved, "KEMENKES"),
    }
    assert fx.post("desk", verify(kept)).status_code == 200
    refused = fx.post("desk", verify(moved, to_agency="KEMENSOS"))
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "rule_violation"
    assert refused.json()["errors"][0]["field"] == "override_reason"
    overridden = fx.post("desk", verify(moved, to_agency="KEMENSOS", override_reason=REASON))
    assert overridden.status_code == 200, overridden.text
    fx.project()
    inbox = fx.client.get("/v1/agencies/KEMENSOS/inbox", headers=fx.headers("kemensos")).json()
    assert [r["tracking_id"] for r in inbox["complaints"]] == [moved]


def test_the_desk_merges_a_forwarded_duplicate(fx: Fixture) -> None:
    original, duplicate = file(fx), file(fx, target_agency="KEMENSOS")
    assert fx.post("desk", verify(original, to_agency="KEMENKES")).status_code == 200
    assert fx.post("desk", verify(duplicate)).status_code == 200
    merge = {"command": "merge", "complaint": duplicate, "into": original}
    assert fx.post("kemensos", merge).status_code == 403  # an agency may not merge
    merged = fx.post("desk", merge)
    assert merged.status_code == 200, merged.text
    assert merged.json()["state"] == "ARCHIVED"
    fx.project()
    inbox = fx.client.get("/v1/agencies/KEMENSOS/inbox", headers=fx.headers("kemensos")).json()
    assert inbox["complaints"] == []
    page = fx.client.get(f"/v1/complaints/{original}/timeline").json()
    assert f"Laporan duplikat {duplicate} digabungkan ke laporan ini" in [
        e["summary"] for e in page["entries"]
    ]
