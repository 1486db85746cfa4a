"""The read routes: complaint views masked per caller (404 never leaks existence), the
public timeline, the directory, agency inboxes, the desk queue, statistics."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from lapor_es.workflow import JAKARTA
from tests.unit.api.conftest import Fixture
from tests.unit.api.test_commands import filing, reporter_headers, verify


def forwarded(fx: Fixture, **overrides: object) -> dict[str, str]:
    filed = fx.post("portal", filing(**overrides)).json()
    assert fx.post("desk", verify(filed["tracking_id"])).status_code == 200
    return {"tracking_id": filed["tracking_id"], "code": filed["access_code"]}


def test_the_complaint_view_is_masked_for_each_caller(fx: Fixture) -> None:
    c = forwarded(fx)
    url = f"/v1/complaints/{c['tracking_id']}"
    desk = fx.client.get(url, headers=fx.headers("desk")).json()
    assert desk["reporter"]["phone"] == "081298765432"  # the desk sees contacts
    agency = fx.client.get(url, headers=fx.headers("kemenkes")).json()
    assert agency["reporter"]["phone"] == "081298765432"  # the holder may contact them
    hidden = fx.post("portal", filing(visibility="anonymous")).json()["tracking_id"]
    fx.post("desk", verify(hidden, visibility="anonymous"))
    masked = fx.client.get(f"/v1/complaints/{hidden}", headers=fx.headers("kemenkes")).json()
    assert masked["reporter"] == {"name": "Anonim"}  # as `lapor-es show --as agency:CODE`
    reporter = fx.client.get(url, headers=reporter_headers(c["tracking_id"], c["code"])).json()
    assert reporter["reporter"]["phone"] == "081298765432"  # their own identity
    auditor = fx.client.get(url, headers=fx.headers("auditor")).json()
    assert auditor["reporter"] == {"name": "Dewi Lestari"}
    assert all(e["actor"] is None for e in auditor["history"])  # the public view


def test_refusals_never_tell_a_hidden_complaint_from_a_missing_one(fx: Fixture) -> None:
    c = forwarded(fx)
    secret = fx.post("portal", filing(visibility="confidential")).json()
    missing = "LAP-2026-0999999"

    def status_detail(url_id: str, headers: dict[str, str]) -> tuple[int, str]:
        response = fx.client.get(f"/v1/complaints/{url_id}", headers=headers)
        return response.status_code, response.json()["detail"]

    assert status_detail(c["tracking_id"], fx.headers("kemensos")) == (
        404,
        f"no complaint {c['tracking_id']}",
    )
    assert status_detail(missing, fx.headers("kemensos")) == (404, f"no complaint {missing}")
    assert status_detail(secret["tracking_id"], fx.headers("auditor"))[0] == 404
    # A reporter's code opens its own complaint only.
    own = reporter_headers(c["tracking_id"], c["code"])
    assert status_detail(secret["tracking_id"], own)[0] == 404
    # Roles that read no complaint views: 403 whatever the id, existing or not.
    for who in ("analyst", "portal", "timer"):
        assert status_detail(c["tracking_id"], fx.headers(who))[0] == 403
        assert status_detail(missing, fx.headers(who))[0] == 403
    no_credentials = fx.client.get(f"/v1/complaints/{c['tracking_id']}")
    assert no_credentials.status_code == 401
    malformed = fx.client.get("/v1/complaints/nope", headers=fx.headers("desk"))
    assert malformed.status_code == 400 and malformed.json()["errors"][0]["field"] == "tracking_id"


def test_the_public_timeline_hides_confidential_complaints(fx: Fixture) -> None:
    c = forwarded(fx)
    secret = fx.post("portal", filing(visibility="confidential")).json()["tracking_id"]
    fx.project()
    page = fx.client.get(f"/v1/complaints/{c['tracking_id']}/timeline")
    assert page.status_code == 200
    forwarded_to = page.json()["entries"][-1]
    assert forwarded_to["summary"] == "Laporan diteruskan ke Agency KEMENKES (KEMENKES)"
    hidden = fx.client.get(f"/v1/complaints/{secret}/timeline")
    missing = fx.client.get("/v1/complaints/LAP-2026-0999999/timeline")
    assert hidden.status_code == missing.status_code == 404


def test_the_directory_is_public(fx: Fixture) -> None:
    codes = [a["code"] for a in fx.client.get("/v1/agencies").json()]
    assert codes[:3] == ["LAPOR", "KEMENKES", "KEMENKES.ITJEN"]


def test_an_inbox_is_for_its_agency_its_parents_and_the_desk(fx: Fixture) -> None:
    c = forwarded(fx)
    fx.project()
    own = fx.client.get("/v1/agencies/KEMENKES/inbox", headers=fx.headers("kemenkes"))
    assert own.status_code == 200
    body = own.json()
    assert body["buckets"]["terdisposisi_belum_ditindaklanjuti"] == 1
    assert [r["tracking_id"] for r in body["complaints"]] == [c["tracking_id"]]
    unit = fx.client.get("/v1/agencies/KEMENKES.ITJEN/inbox", headers=fx.headers("kemenkes"))
    assert unit.status_code == 200 and unit.json()["complaints"] == []
    for who, code in [("itjen", "KEMENKES"), ("kemensos", "KEMENKES"), ("portal", "KEMENKES")]:
        refused = fx.client.get(f"/v1/agencies/{code}/inbox", headers=fx.headers(who))
        assert refused.status_code == 403, who
    desk = fx.client.get("/v1/agencies/KEMENKES/inbox", headers=fx.headers("desk"))
    assert desk.status_code == 200
    unknown = fx.client.get("/v1/agencies/NOPE/inbox", headers=fx.headers("desk"))
    assert unknown.status_code == 404
    bad_state = fx.client.get("/v1/agencies/KEMENKES/inbox?state=LOST", headers=fx.headers("desk"))
    assert bad_state.status_code == 400 and bad_state.json()["errors"][0]["field"] == "state"


def test_the_desk_queue_orders_its_work_by_urgency(fx: Fixture) -> None:
    now = datetime.now(UTC)
    early = (now - timedelta(days=20)).isoformat()
    late = (now - timedelta(days=2)).isoformat()

    def filed_at(at: str, title: str) -> str:
        # Only the desk (or the timer) may set the business time: a channel may not backdate.
        body = filing(channel="web", at=at, title=title)
        return str(fx.post("desk", body).json()["tracking_id"])

    recent = filed_at(late, "Laporan baru")
    older = filed_at(early, "Laporan lama")
    waiting = filed_at(early, "Menunggu pelapor")
    postpone = {"command": "postpone", "complaint": waiting, "reason": "lengkapi lokasi"}
    assert fx.post("desk", postpone | {"at": early}).status_code == 200
    forwarded(fx)  # not the desk's work any more
    fx.project()
    queue = fx.client.get("/v1/desk/queue", headers=fx.headers("desk"))
    assert queue.status_code == 200
    items = queue.json()["queue"]
    assert [(i["tracking_id"], i["reason"]) for i in items] == [
        (older, "unverified"),
        (recent, "unverified"),
        (waiting, "postponed"),
    ]
    assert items[0]["overdue"] is True and items[1]["overdue"] is False
    assert items[2]["waited_working_days"] >= 10
    lapor_inbox = fx.client.get("/v1/agencies/LAPOR/inbox", headers=fx.headers("desk")).json()
    assert [i["tracking_id"] for i in lapor_inbox["queue"]] == [older, recent, waiting]
    for who in ("kemenkes", "analyst", "portal"):
        assert fx.client.get("/v1/desk/queue", headers=fx.headers(who)).status_code == 403


def test_statistics_for_analysts_with_the_cli_parameters(fx: Fixture) -> None:
    forwarded(fx)
    fx.project()
    # Cohorts are WIB filing days: from 17:00 UTC a filing made now is already tomorrow in WIB.
    today = datetime.now(JAKARTA).date().isoformat()
    url = f"/v1/stats/completion?from=2026-01-01&to={today}"
    rows = fx.client.get(url + "&by=channel", headers=fx.headers("analyst"))
    assert rows.status_code == 200, rows.text
    assert rows.json()["rows"][0]["key"] == "web" and rows.json()["rows"][0]["filed"] == 1
    assert fx.client.get(url, headers=fx.headers("desk")).status_code == 200
    assert fx.client.get(url, headers=fx.headers("kemenkes")).status_code == 403
    ignored = fx.client.get(
        f"/v1/stats/ranking?from=2026-01-01&to={today}&agency=KEMENKES",
        headers=fx.headers("analyst"),
    )
    assert ignored.status_code == 400
    assert [e["field"] for e in ignored.json()["errors"]] == ["agency"]
    backwards = fx.client.get(
        "/v1/stats/sla?from=2026-02-01&to=2026-01-01", headers=fx.headers("analyst")
    )
    assert backwards.status_code == 400
    unknown = fx.client.get(
        f"/v1/stats/happiness?from=2026-01-01&to={today}", headers=fx.headers("analyst")
    )
    assert unknown.status_code == 400 and unknown.json()["errors"][0]["field"] == "metric"


def test_an_escalation_addressed_to_the_desk_comes_first(fx: Fixture) -> None:
    now = datetime.now(UTC)
    backdated = filing(channel="web", at=(now - timedelta(days=30)).isoformat())
    stale = fx.post("desk", backdated).json()  # only the desk or the timer may set `at`
    fresh = fx.post("portal", filing(title="Laporan baru")).json()["tracking_id"]
    tracking = stale["tracking_id"]
    view = fx.client.get(f"/v1/complaints/{tracking}", headers=fx.headers("desk")).json()
    due = view["sla"]["due_at"]
    ladder = [
        {"command": "breach_sla", "clock": "verification", "due_at": due},
        {"command": "escalate", "level": "parent", "clock": "verification", "due_at": due},
    ]
    for step in ladder:
        response = fx.post("timer", step | {"complaint": tracking})
        assert response.status_code == 200, response.text
    fx.project()
    items = fx.client.get("/v1/desk/queue", headers=fx.headers("desk")).json()["queue"]
    assert [(i["tracking_id"], i["reason"]) for i in items] == [
        (tracking, "escalated"),
        (fresh, "unverified"),
    ]
