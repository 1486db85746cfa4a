"""The public tracking page read model on both stores, through the in-process runner."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select

from lapor_es.aggregates import NotAuthorized
from lapor_es.application import LaporApp
from lapor_es.commands import Outcome, parse_command
from lapor_es.config import Settings
from lapor_es.kafka.relay import complaint_event_topics
from lapor_es.projections.core import Projector, create_all
from lapor_es.projections.events import from_notification
from lapor_es.projections.runners import LocalRunner
from lapor_es.readmodels.timeline import Timeline, TimelineModel, TimelineNotFound, timeline_for
from lapor_es.workflow import WorkingCalendar
from tests.support.builders import (
    DESK,
    NIK,
    agency_actor,
    file_cmd,
    reporter_actor,
    small_directory,
)
from tests.support.projections import read_model_service

pytestmark = pytest.mark.integration


class Scene:
    def __init__(self, lapor: LaporApp, engine: Engine) -> None:
        self.lapor = lapor
        self.engine = engine
        self.model = TimelineModel(calendar=WorkingCalendar())
        create_all(engine, [self.model])
        self.projector = Projector(engine, [self.model])

    def __call__(self, at: str, **command: Any) -> Outcome:
        when = datetime.fromisoformat(at).replace(tzinfo=UTC)
        return self.lapor.handle(parse_command({**command, "at": when.isoformat()}))

    def page(self, tracking_id: str, *, public: bool) -> Timeline:
        LocalRunner(self.lapor.recorder, self.lapor.mapper, self.projector).run()
        with self.engine.connect() as conn:
            return timeline_for(conn, tracking_id, public=public)


@pytest.fixture
def scene(lapor: LaporApp, settings: Settings) -> Scene:
    small_directory(lapor)
    return Scene(lapor, read_model_service(settings).engine)


def test_public_page_follows_the_complaint_and_disappears_when_made_confidential(
    scene: Scene,
) -> None:
    filed = scene("2026-02-23T02:00", **file_cmd(title="Puskesmas tutup"))
    tid, ref = str(filed.tracking_id), str(filed.reporter_ref)
    scene(
        "2026-02-23T03:00",
        command="verify",
        actor=DESK,
        complaint=tid,
        title="Puskesmas tutup pada jam kerja",
        category="Kesehatan",
        kind="complaint",
        visibility="public",
        to_agency="KEMENKES",
    )
    scene(
        "2026-02-24T03:00",
        command="forward",
        actor=agency_actor("KEMENKES"),
        complaint=tid,
        to_agency="KEMENKES.YANKES",
    )
    scene(
        "2026-02-24T04:00",
        command="decline",
        actor=agency_actor("KEMENKES.YANKES"),
        complaint=tid,
        reason="Bukan wewenang; hubungi Dewi Lestari",
    )
    scene(
        "2026-02-25T02:00",
        command="respond",
        actor=agency_actor("KEMENKES"),
        complaint=tid,
        kind="final",
        text="Sudah kami hubungi Ibu Dewi Lestari di 081298765432",
    )
    scene(
        "2026-02-25T03:00",
        command="reply",
        actor=reporter_actor(ref),
        complaint=tid,
        kind="confirm",
        text="Terima kasih, Dewi",
    )

    page = scene.page(tid, public=True)
    assert (page.tracking_id, page.title, page.visibility, page.state, page.bucket) == (
        tid,
        "Puskesmas tutup pada jam kerja",
        "public",
        "RESOLVED",
        "Terdisposisi, Selesai",
    )
    assert [(e.version, e.event_type, e.actor_role, e.agency, e.summary) for e in page.entries] == [
        (1, "Filed", "reporter", None, "Laporan diterima melalui situs web"),
        (2, "Verified", "national_admin", None, "Laporan diverifikasi oleh admin nasional"),
        (3, "Forwarded", "national_admin", "KEMENKES", "Laporan diteruskan ke KEMENKES"),
        (
            4,
            "Forwarded",
            "agency_admin",
            "KEMENKES.YANKES",
            "Laporan didisposisikan oleh KEMENKES ke KEMENKES.YANKES",
        ),
        (
            5,
            "ForwardingDeclined",
            "agency_admin",
            "KEMENKES.YANKES",
            "KEMENKES.YANKES menyatakan bukan wewenangnya; laporan dikembalikan ke KEMENKES",
        ),
        (6, "Responded", "agency_admin", "KEMENKES", "KEMENKES memberikan tanggapan akhir"),
        (7, "ReporterReplied", "reporter", None, "Pelapor menyatakan tanggapan sudah sesuai"),
        (8, "Resolved", "reporter", None, "Laporan selesai: dikonfirmasi oleh pelapor"),
    ]
    assert page.entries[0].at == datetime(2026, 2, 23, 2, tzinfo=UTC)

    # The page carries the public texts (issue 10 item 4): the agency's answer and the
    # reporter's reply, as they wrote them for the public; never the identity, the pseudonym,
    # the staff's ids or an internal note (the decline's reason).
    assert [e.text for e in page.entries][5:7] == [
        "Sudah kami hubungi Ibu Dewi Lestari di 081298765432",
        "Terima kasih, Dewi",
    ]
    with scene.engine.connect() as conn:
        stored = " ".join(
            str(v) for t in scene.model.own_tables for r in conn.execute(select(t)) for v in r
        )
    for secret in ("hubungi Dewi Lestari", NIK, ref, "staff-"):
        assert secret not in stored

    # Made confidential after the fact: the public page is refused, staff still see it.
    scene(
        "2026-02-26T02:00",
        command="change_visibility",
        actor=DESK,
        complaint=tid,
        visibility="confidential",
        reason="Data pihak ketiga",
    )
    with pytest.raises(NotAuthorized) as refused:
        scene.page(tid, public=True)
    assert refused.value.code == "not_authorized"
    staff = scene.page(tid, public=False)
    assert staff.visibility == "confidential"
    assert staff.entries[-1].summary == "Sifat laporan diubah menjadi rahasia"
    assert len(staff.entries) == 9


def test_confidential_from_filing_is_refused_and_unknown_is_not_found(scene: Scene) -> None:
    filed = scene("2026-02-23T02:00", **file_cmd(visibility="confidential"))
    tid = str(filed.tracking_id)
    with pytest.raises(NotAuthorized):
        scene.page(tid, public=True)
    assert [e.summary for e in scene.page(tid, public=False).entries] == [
        "Laporan diterima melalui situs web"
    ]
    with pytest.raises(TimelineNotFound) as missing:
        scene.page("LAP-2026-0009999", public=True)
    assert missing.value.code == "not_found"


def test_applying_the_same_events_twice_changes_nothing(scene: Scene) -> None:
    filed = scene("2026-02-23T02:00", **file_cmd())
    tid = str(filed.tracking_id)
    scene("2026-02-23T03:00", command="archive", actor=DESK, complaint=tid, reason="spam")
    before = scene.page(tid, public=True)
    events = [
        from_notification(n, scene.lapor.mapper)
        for n in scene.lapor.recorder.select_notifications(
            start=1, limit=1000, topics=complaint_event_topics()
        )
    ]
    with scene.engine.begin() as conn:
        for ev in events:
            scene.model.apply(conn, ev)
    assert scene.page(tid, public=True) == before
    assert [e.summary for e in before.entries] == [
        "Laporan diterima melalui situs web",
        "Laporan diarsipkan (spam)",
    ]
    assert (before.state, before.bucket) == ("ARCHIVED", "Laporan Arsip")
