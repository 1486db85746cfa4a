"""The agency inbox read model on both stores, through the in-process runner.

Every expected value is worked out by hand below from the scenario and the 2026 Indonesian
calendar: 16 Feb 2026 (cuti bersama Imlek) and 17 Feb (Imlek) are not working days; 23 Feb
to 13 Mar 2026 has no holiday on a weekday. A limit of N working days started on day D ends at
00:00 WIB (17:00Z of the day before) after the N-th working day strictly after D.
"""

from __future__ import annotations

from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from lapor_es.application import LaporApp
from lapor_es.commands import Outcome, parse_command
from lapor_es.config import Settings
from lapor_es.kafka.relay import complaint_event_topics
from lapor_es.projections.core import Projector, create_all
from lapor_es.projections.events import Coordinates, from_notification
from lapor_es.projections.runners import LocalRunner
from lapor_es.readmodels.inbox import AgencyBuckets, InboxModel, bucket_counts, inbox_rows
from lapor_es.workflow import WorkingCalendar
from tests.conftest import NOW
from tests.support.builders import DESK, agency_actor, file_cmd, reporter_actor, small_directory
from tests.support.projections import read_model_service

pytestmark = pytest.mark.integration

CAL = WorkingCalendar()
KEMENKES, YANKES, ITJEN = "KEMENKES", "KEMENKES.YANKES", "KEMENKES.ITJEN"
KEMENSOS = "KEMENSOS"


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class Scene:
    """Commands at explicit business times, and the inbox projection caught up on demand."""

    def __init__(self, lapor: LaporApp, engine: Engine) -> None:
        self.lapor = lapor
        self.engine = engine
        self.model = InboxModel(calendar=CAL)
        create_all(engine, [self.model])
        self.projector = Projector(engine, [self.model])

    def __call__(self, at: str, **command: Any) -> Outcome:
        return self.lapor.handle(parse_command({**command, "at": utc(at).isoformat()}))

    def catch_up(self) -> None:
        LocalRunner(self.lapor.recorder, self.lapor.mapper, self.projector).run()

    def inbox(self, agency: str, *, units: bool = True, state: str | None = None) -> list[Any]:
        self.catch_up()
        with self.engine.connect() as conn:
            rows = inbox_rows(conn, agency, include_units=units, now=NOW, calendar=CAL, state=state)
        return [{k: asdict(r)[k] for k in FIELDS} for r in rows]

    def buckets(self, agency: str) -> AgencyBuckets:
        self.catch_up()
        with self.engine.connect() as conn:
            return bucket_counts(conn, agency)

    def dump(self) -> dict[str, list[tuple[Any, ...]]]:
        with self.engine.connect() as conn:
            return {
                t.name: sorted(tuple(map(str, r)) for r in conn.execute(select(t)))
                for t in self.model.own_tables
            }


FIELDS = (
    "agency",
    "tracking_id",
    "held_directly",
    "holder",
    "state",
    "bucket",
    "forwarding_path",
    "clock",
    "due_at",
    "working_days_left",
    "overdue",
    "last_action",
    "last_actor_role",
    "reopen_count",
    "reply_pending",
    "reporter_display",
    "visibility",
)


@pytest.fixture
def scene(lapor: LaporApp, settings: Settings) -> Scene:
    small_directory(lapor)
    return Scene(lapor, read_model_service(settings).engine)


def row(**fields: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {
        "clock": "follow_up",
        "overdue": False,
        "reopen_count": 0,
        "reply_pending": False,
        "visibility": "public",
    }
    return defaults | fields


def test_holder_chain_through_forward_decline_reforward_response_resolution_reopen(
    scene: Scene,
) -> None:
    # Mon 23 Feb 09:00 WIB.
    filed = scene("2026-02-23T02:00", **file_cmd(title="Puskesmas tutup"))
    tid, ref = str(filed.tracking_id), str(filed.reporter_ref)
    assert scene.inbox(KEMENKES) == []  # with the desk: in no agency's inbox

    # Verified to KEMENKES Mon 23 Feb: follow-up 24, 25, 26, 27 Feb, 2 Mar -> 2 Mar 17:00Z.
    # NOW is Mon 2 Mar 09:00 WIB: the due day itself, 0 working days left, not overdue.
    scene(
        "2026-02-23T03:00",
        command="verify",
        actor=DESK,
        complaint=tid,
        title="Puskesmas tutup pada jam kerja",
        category="Kesehatan",
        kind="complaint",
        visibility="public",
        to_agency=KEMENKES,
    )
    show = f"lapor-es show {tid} --as agency:"
    kemenkes_direct = row(
        agency=KEMENKES,
        tracking_id=tid,
        held_directly=True,
        holder=KEMENKES,
        state="FORWARDED",
        bucket="Terdisposisi, Belum Ditindaklanjuti",
        forwarding_path="KEMENKES",
        due_at=utc("2026-03-02T17:00"),
        working_days_left=0,
        last_action="Forwarded",
        last_actor_role="national_admin",
        reporter_display=show + KEMENKES,
    )
    assert scene.inbox(KEMENKES) == [kemenkes_direct]
    assert scene.inbox(YANKES) == []

    # Down to YANKES Tue 24 Feb: restarted, 25, 26, 27 Feb, 2, 3 Mar -> 3 Mar 17:00Z;
    # on 2 Mar one working day (3 Mar) is left.
    scene(
        "2026-02-24T03:00",
        command="forward",
        actor=agency_actor(KEMENKES),
        complaint=tid,
        to_agency=YANKES,
    )
    via_unit = {
        "holder": YANKES,
        "forwarding_path": "KEMENKES > KEMENKES.YANKES",
        "due_at": utc("2026-03-03T17:00"),
        "working_days_left": 1,
        "last_action": "Forwarded",
        "last_actor_role": "agency_admin",
    }
    assert scene.inbox(KEMENKES) == [kemenkes_direct | via_unit | {"held_directly": False}]
    assert scene.inbox(KEMENKES, units=False) == []  # the parent does not hold it itself
    assert scene.inbox(YANKES) == [
        kemenkes_direct
        | via_unit
        | {"agency": YANKES, "held_directly": True, "reporter_display": show + YANKES}
    ]

    # YANKES declines: back to KEMENKES, FORWARDED, the follow-up clock keeps running.
    scene(
        "2026-02-24T04:00",
        command="decline",
        actor=agency_actor(YANKES),
        complaint=tid,
        reason="Bukan wewenang unit ini",
    )
    back = kemenkes_direct | {
        "due_at": utc("2026-03-03T17:00"),
        "working_days_left": 1,
        "last_action": "ForwardingDeclined",
        "last_actor_role": "agency_admin",
    }
    assert scene.inbox(KEMENKES) == [back]
    assert scene.inbox(KEMENKES, units=False) == [back]
    assert scene.inbox(YANKES) == []

    # KEMENKES declines too: back to the desk (SUBMITTED), in nobody's inbox.
    scene(
        "2026-02-24T05:00",
        command="decline",
        actor=agency_actor(KEMENKES),
        complaint=tid,
        reason="Wewenang Kementerian Sosial",
        suggested_agency=KEMENSOS,
    )
    assert scene.inbox(KEMENKES) == []
    assert scene.buckets(KEMENKES) == AgencyBuckets(KEMENKES, belum_terverifikasi=1, total=1)

    # The desk re-forwards to KEMENSOS Wed 25 Feb: 26, 27 Feb, 2, 3, 4 Mar -> 4 Mar 17:00Z.
    scene("2026-02-25T02:00", command="forward", actor=DESK, complaint=tid, to_agency=KEMENSOS)
    kemensos = kemenkes_direct | {
        "agency": KEMENSOS,
        "holder": KEMENSOS,
        "forwarding_path": "KEMENSOS",
        "due_at": utc("2026-03-04T17:00"),
        "working_days_left": 2,
        "reporter_display": show + KEMENSOS,
    }
    assert scene.inbox(KEMENKES) == []
    assert scene.inbox(YANKES) == []
    assert scene.inbox(KEMENSOS) == [kemensos]
    assert scene.buckets(KEMENKES) == AgencyBuckets(KEMENKES, passed_on=1, total=1)
    assert scene.buckets(YANKES) == AgencyBuckets(YANKES, passed_on=1, total=1)
    assert scene.buckets(KEMENSOS) == AgencyBuckets(
        KEMENSOS, terdisposisi_belum_ditindaklanjuti=1, total=1
    )

    # Work starts, the reporter comments (a reply is pending), then the final response
    # Thu 26 Feb: reply window 27 Feb, 2-6, 9-12 Mar -> 12 Mar 17:00Z; 8 working days
    # left on 2 Mar (3, 4, 5, 6, 9, 10, 11, 12). Still in the inbox while RESPONDED.
    scene("2026-02-25T03:00", command="start", actor=agency_actor(KEMENSOS), complaint=tid)
    scene(
        "2026-02-25T04:00",
        command="reply",
        actor=reporter_actor(ref),
        complaint=tid,
        kind="comment",
        text="Mohon segera",
    )
    assert scene.inbox(KEMENSOS) == [
        kemensos
        | {
            "state": "IN_PROGRESS",
            "bucket": "Terdisposisi, Sedang Diproses",
            "last_action": "ReporterReplied",
            "last_actor_role": "reporter",
            "reply_pending": True,
        }
    ]
    scene(
        "2026-02-26T02:00",
        command="respond",
        actor=agency_actor(KEMENSOS),
        complaint=tid,
        kind="final",
        text="Sudah ditangani oleh petugas",
    )
    responded = kemensos | {
        "state": "RESPONDED",
        "bucket": "Terdisposisi, Sedang Diproses",
        "clock": "auto_resolve",
        "due_at": utc("2026-03-12T17:00"),
        "working_days_left": 8,
        "last_action": "Responded",
        "last_actor_role": "agency_admin",
    }
    assert scene.inbox(KEMENSOS) == [responded]
    assert scene.inbox(KEMENSOS, state="RESPONDED") == [responded]
    assert scene.inbox(KEMENSOS, state="FORWARDED") == []

    # The reporter confirms: RESOLVED leaves the inbox, counted as Selesai.
    scene(
        "2026-02-26T03:00",
        command="reply",
        actor=reporter_actor(ref),
        complaint=tid,
        kind="confirm",
        text="Terima kasih",
    )
    assert scene.inbox(KEMENSOS) == []
    assert scene.buckets(KEMENSOS) == AgencyBuckets(KEMENSOS, terdisposisi_selesai=1, total=1)

    # Reopened Fri 27 Feb: IN_PROGRESS again, follow-up 2, 3, 4, 5, 6 Mar -> 6 Mar 17:00Z,
    # 4 working days left on 2 Mar.
    scene("2026-02-27T02:00", command="reopen", actor=DESK, complaint=tid, reason="Belum tuntas")
    assert scene.inbox(KEMENSOS) == [
        kemensos
        | {
            "state": "IN_PROGRESS",
            "bucket": "Terdisposisi, Sedang Diproses",
            "due_at": utc("2026-03-06T17:00"),
            "working_days_left": 4,
            "last_action": "Reopened",
            "last_actor_role": "national_admin",
            "reopen_count": 1,
        }
    ]
    assert scene.buckets(KEMENSOS) == AgencyBuckets(
        KEMENSOS, terdisposisi_sedang_diproses=1, total=1
    )
    assert scene.buckets(KEMENKES) == AgencyBuckets(KEMENKES, passed_on=1, total=1)


def test_overdue_masking_order_and_counters_across_complaints(scene: Scene) -> None:
    # A, anonymous: verified to KEMENKES Fri 13 Feb 10:00 WIB. 16 Feb (cuti bersama Imlek) and
    # 17 Feb (Imlek) do not count: 18, 19, 20, 23, 24 Feb -> due 24 Feb 17:00Z. On Mon 2 Mar
    # working days 25, 26, 27 Feb and 2 Mar have started after the due day: -4, overdue.
    a = scene("2026-02-13T02:00", **file_cmd(title="Obat habis", visibility="anonymous"))
    ta = str(a.tracking_id)
    scene(
        "2026-02-13T03:00",
        command="verify",
        actor=DESK,
        complaint=ta,
        title="Obat habis",
        category="Kesehatan",
        kind="complaint",
        visibility="anonymous",
        to_agency=KEMENKES,
    )
    # B, confidential: verified to KEMENKES Wed 25 Feb, passed to ITJEN Thu 26 Feb:
    # 27 Feb, 2, 3, 4, 5 Mar -> 5 Mar 17:00Z, 3 working days left on 2 Mar (3, 4, 5).
    b = scene("2026-02-25T02:00", **file_cmd(title="Pungutan liar", visibility="confidential"))
    tb = str(b.tracking_id)
    scene(
        "2026-02-25T03:00",
        command="verify",
        actor=DESK,
        complaint=tb,
        title="Pungutan liar",
        category="Kesehatan",
        kind="complaint",
        visibility="confidential",
        to_agency=KEMENKES,
    )
    scene(
        "2026-02-26T02:00",
        command="forward",
        actor=agency_actor(KEMENKES),
        complaint=tb,
        to_agency=ITJEN,
    )
    # C, public, archived before verification: never reaches an agency.
    c = scene("2026-02-26T03:00", **file_cmd(title="Halo"))
    scene(
        "2026-02-26T04:00",
        command="archive",
        actor=DESK,
        complaint=str(c.tracking_id),
        reason="too_general",
    )

    rows = scene.inbox(KEMENKES)
    assert [(r["tracking_id"], r["held_directly"]) for r in rows] == [(ta, True), (tb, False)]
    overdue, unit = rows
    assert (overdue["due_at"], overdue["working_days_left"], overdue["overdue"]) == (
        utc("2026-02-24T17:00"),
        -4,
        True,
    )
    assert overdue["reporter_display"] == "Anonim"
    assert (unit["due_at"], unit["working_days_left"], unit["overdue"]) == (
        utc("2026-03-05T17:00"),
        3,
        False,
    )
    assert unit["reporter_display"] == "Rahasia"
    assert [r["tracking_id"] for r in scene.inbox(ITJEN)] == [tb]
    assert scene.buckets(KEMENKES) == AgencyBuckets(
        KEMENKES, terdisposisi_belum_ditindaklanjuti=2, total=2
    )
    assert scene.buckets(ITJEN) == AgencyBuckets(
        ITJEN, terdisposisi_belum_ditindaklanjuti=1, total=1
    )
    assert scene.buckets("PROV-JABAR") == AgencyBuckets("PROV-JABAR")

    # The desk makes A public; then its reporter is erased: the display follows.
    scene(
        "2026-02-27T02:00",
        command="change_visibility",
        actor=DESK,
        complaint=ta,
        visibility="public",
        reason="Pelapor setuju",
    )
    assert (
        scene.inbox(KEMENKES)[0]["reporter_display"] == f"lapor-es show {ta} --as agency:KEMENKES"
    )
    scene(
        "2026-02-27T03:00",
        command="erase_reporter",
        actor=DESK,
        reporter_ref=str(a.reporter_ref),
        reason="Hak penghapusan",
    )
    assert scene.inbox(KEMENKES)[0]["reporter_display"] == "[erased]"

    # The view over the same rows gives the same counters.
    with scene.engine.connect() as conn:
        view = (
            conn.execute(text("SELECT * FROM v_agency_buckets WHERE agency = 'KEMENKES'"))
            .mappings()
            .one()
        )
    assert {k: int(v) for k, v in view.items() if k != "agency"} == {
        k: v for k, v in asdict(scene.buckets(KEMENKES)).items() if k != "agency"
    }


def test_applying_the_same_events_twice_changes_nothing(scene: Scene) -> None:
    filed = scene("2026-02-23T02:00", **file_cmd())
    tid = str(filed.tracking_id)
    scene(
        "2026-02-23T03:00",
        command="verify",
        actor=DESK,
        complaint=tid,
        title="Air",
        category="Air Bersih",
        kind="complaint",
        visibility="public",
        to_agency=KEMENKES,
    )
    scene(
        "2026-02-24T03:00",
        command="forward",
        actor=agency_actor(KEMENKES),
        complaint=tid,
        to_agency=YANKES,
    )
    scene.catch_up()
    before = scene.dump()
    events = [
        from_notification(n, scene.lapor.mapper)
        for n in scene.lapor.recorder.select_notifications(
            start=1, limit=1000, topics=complaint_event_topics()
        )
    ]
    assert [e.type for e in events] == ["Filed", "Verified", "Forwarded", "Forwarded"]
    # The same log positions again: behind the tracking position, skipped.
    result = scene.projector.process(events)
    assert (result.applied, result.skipped, result.parked) == (0, 4, 0)
    # The same events from another source (e.g. Kafka after a switch): the claims catch them.
    again = [
        replace(e, coordinates=Coordinates("lapor.complaints.v1", 0, i))
        for i, e in enumerate(events)
    ]
    result = scene.projector.process(again)
    assert (result.applied, result.duplicates, result.parked) == (0, 4, 0)
    with scene.engine.begin() as conn:  # and straight into the model, past the claims
        for ev in events:
            scene.model.apply(conn, ev)
    assert scene.dump() == before
