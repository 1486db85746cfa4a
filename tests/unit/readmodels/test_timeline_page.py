"""The tracking page as its readers get it (issue 10 item 4): times in WIB, agencies by name
and code, the public texts (responses, replies, the desk's question), never the staff's notes,
no text at all for a confidential complaint, none of an erased reporter's own words."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import StaticPool

from lapor_es.contract.payloads import AnyPayload
from lapor_es.projections.core import create_all
from lapor_es.projections.events import Coordinates, ProjectedEvent
from lapor_es.readmodels.queries import timeline_json
from lapor_es.readmodels.timeline import Timeline, TimelineModel, timeline_for
from lapor_es.workflow import WorkingCalendar
from tests.support.builders import payload

TID = "LAP-2026-0000001"
START = datetime(2026, 3, 2, 2, tzinfo=UTC)  # 09:00 WIB
DUE = datetime(2026, 3, 20, 17, tzinfo=UTC)
NAMES = {"KEMENKES": "Kementerian Kesehatan", "KEMENKES.YANKES": "Ditjen Pelayanan Kesehatan"}
INTERNAL = "catatan internal: hubungi Bu Sari"

QUESTION = "Mohon lampirkan foto lokasi"
SUPPLEMENT = "Foto terlampir, lokasi di depan pasar"
ANSWER = "Jalan sudah kami perbaiki pada 5 Maret 2026"
REPLY = "Terima kasih, sudah beres"


def _events(visibility: str) -> list[AnyPayload]:
    staff: dict[str, Any] = {"role": "national_admin"}
    agency: dict[str, Any] = {"role": "agency_admin", "actor_agency": "KEMENKES"}
    steps: list[tuple[str, dict[str, Any]]] = [
        (
            "Filed",
            {
                "role": "reporter",
                "kind": "complaint",
                "channel": "web",
                "title": "Jalan rusak",
                "description": "Lubang besar",
                "category": None,
                "location": None,
                "visibility": visibility,
                "target_agency": None,
                "verification_due_at": DUE,
            },
        ),
        ("Postponed", staff | {"reason": QUESTION, "remaining_days": 2}),
        (
            "InformationSupplemented",
            {"role": "reporter", "text": SUPPLEMENT, "verification_due_at": DUE},
        ),
        (
            "Verified",
            staff
            | {
                "title": "Jalan rusak",
                "category": "Infrastruktur",
                "kind": "complaint",
                "visibility": visibility,
            },
        ),
        (
            "Forwarded",
            staff
            | {
                "from_agency": None,
                "to_agency": "KEMENKES",
                "level": "agency",
                "note": INTERNAL,
                "follow_up_due_at": DUE,
            },
        ),
        (
            "Responded",
            agency
            | {
                "agency": "KEMENKES",
                "kind": "final",
                "text": ANSWER,
                "follow_up_due_at": None,
                "auto_resolve_due_at": DUE,
            },
        ),
        (
            "ReporterReplied",
            {
                "role": "reporter",
                "kind": "comment",
                "text": REPLY,
                "follow_up_due_at": None,
                "auto_resolve_due_at": None,
            },
        ),
    ]
    return [
        payload(kind, version=i, at=START + timedelta(hours=i - 1), **fields)
        for i, (kind, fields) in enumerate(steps, start=1)
    ]


class Page:
    """The timeline model on an in-memory SQLite database, fed payloads directly."""

    def __init__(self) -> None:
        self.engine: Engine = create_engine(
            "sqlite://", connect_args={"check_same_thread": False}, poolclass=StaticPool
        )
        self.model = TimelineModel(calendar=WorkingCalendar())
        create_all(self.engine, [self.model])
        self.version = 0

    def apply(self, *events: AnyPayload) -> None:
        with self.engine.begin() as conn:
            for p in events:
                self.version = p.version
                where = Coordinates("store", 0, p.version)
                self.model.apply(conn, ProjectedEvent(p, {}, where, p.version))

    def then(self, event_type: str, **fields: Any) -> None:
        at = START + timedelta(days=10)
        self.apply(payload(event_type, version=self.version + 1, at=at, **fields))

    def read(self, *, public: bool = True) -> Timeline:
        with self.engine.connect() as conn:
            return timeline_for(conn, TID, public=public, agency_names=NAMES.get)


@pytest.fixture
def page() -> Page:
    return Page()


def test_the_public_page_shows_wib_times_agency_names_and_the_answers(page: Page) -> None:
    page.apply(*_events("public"))
    timeline = page.read()

    assert timeline.filed_at.utcoffset() == timedelta(hours=7)
    assert timeline.filed_at.strftime("%H:%M %Z") == "09:00 WIB"
    forwarded = timeline.entries[4]
    assert (forwarded.agency, forwarded.agency_name) == ("KEMENKES", "Kementerian Kesehatan")
    assert forwarded.summary == "Laporan diteruskan ke Kementerian Kesehatan (KEMENKES)"
    assert [e.text for e in timeline.entries] == [
        None,
        QUESTION,
        SUPPLEMENT,
        None,
        None,  # the disposition note is the staff's
        ANSWER,
        REPLY,
    ]

    as_json = timeline_json(timeline)
    assert as_json["filed_at"] == "2026-03-02T09:00:00+07:00"
    assert [e["at"][-6:] for e in as_json["entries"]] == ["+07:00"] * 7
    assert as_json["entries"][5] | {"at": None} == {
        "version": 6,
        "at": None,
        "event_type": "Responded",
        "actor_role": "agency_admin",
        "agency": "KEMENKES",
        "agency_name": "Kementerian Kesehatan",
        "summary": "Kementerian Kesehatan (KEMENKES) memberikan tanggapan akhir",
        "text": ANSWER,
    }
    assert INTERNAL not in str(as_json)


def test_an_unknown_agency_keeps_its_code(page: Page) -> None:
    page.apply(*_events("public"))
    with page.engine.connect() as conn:
        timeline = timeline_for(conn, TID, public=True, agency_names=lambda _code: None)
    assert timeline.entries[4].agency_name is None
    assert timeline.entries[4].summary == "Laporan diteruskan ke KEMENKES"


def test_a_confidential_complaint_shows_steps_agencies_and_times_but_no_text(page: Page) -> None:
    page.apply(*_events("confidential"))
    staff = page.read(public=False)
    assert [e.text for e in staff.entries] == [None] * 7
    assert staff.entries[5].agency_name == "Kementerian Kesehatan"
    assert staff.entries[5].at.utcoffset() == timedelta(hours=7)


def test_texts_disappear_when_the_complaint_is_made_confidential(page: Page) -> None:
    page.apply(*_events("public"))
    assert page.read().entries[5].text == ANSWER
    page.then(
        "VisibilityChanged",
        role="national_admin",
        old="public",
        new="confidential",
        reason=INTERNAL,
    )
    staff = page.read(public=False)
    assert [e.text for e in staff.entries] == [None] * 8


def test_an_erased_reporters_own_words_are_withheld_and_the_answers_stay(page: Page) -> None:
    page.apply(*_events("anonymous"))
    page.then("ReporterErased", role="national_admin", reason=INTERNAL)
    timeline = page.read()
    assert [e.text for e in timeline.entries] == [
        None,
        QUESTION,
        None,  # the reporter's supplement
        None,
        None,
        ANSWER,
        None,  # the reporter's reply
        None,
    ]
    assert INTERNAL not in str(timeline_json(timeline))
