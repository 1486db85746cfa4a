"""The complaints read model and its statistics, on SQLite and PostgreSQL.

A scripted January 2026 (holidays: Fri 16 Jan, Isra Mi'raj). Every command runs at 02:00Z
(09:00 WIB) unless noted, so the WIB date is the UTC date. Working days are counted by hand:
"wd (a, b]" = Monday-Friday dates after a up to b, without 16 Jan.

  C1 Mon 5  filed; Tue 6 verified -> KEMENKES (due 13T17); Wed 7 KEMENKES -> KEMENKES.YANKES
     (due 14T17); Fri 9 final response; Mon 12 confirmed; Tue 13 made confidential.
  C2 Tue 6  filed (own reporter); Wed 7 -> KEMENSOS (due 14T17); Thu 8 interim; Mon 12 final
     (window due 27T17); Wed 28 auto-closed; Fri 30 reporter erased.
  C3 Wed 7  filed; Thu 8 archived (too_general).
  C4 Wed 7 03:00 filed; Thu 8 merged into C1 (C1 records DuplicateMerged).
  C5 Thu 8  filed; Fri 9 postponed; Tue 13 supplemented; Wed 14 -> PROV-JABAR (due 22T17);
     Thu 15 started; Wed 21 interim response.
  C6 Mon 12 filed; Tue 13 -> KEMENSOS (due 21T17); Wed 14 -> KEMENSOS.LINJAMSOS (due 22T17);
     Thu 15 the unit declines; Mon 19 KEMENSOS declines to the desk; Tue 20 desk -> KEMENKES
     (due 27T17); warned 26T17, breached + escalated 27T17; Thu 29 final (late); Fri 30 dispute.
  C7 Tue 13 filed; Wed 14 -> KEMENKES (due 22T17); Mon 19 final; Tue 20 confirmed;
     Mon 26 reopened; Wed 28 final; Thu 29 confirmed.
  C8 Wed 14 filed; Thu 15 -> PROV-JABAR (due 23T17); nothing since.
  C9 Mon 26 filed; nothing since.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, select, text

from lapor_es.application import LaporApp
from lapor_es.commands import Outcome, parse_command
from lapor_es.config import Settings
from lapor_es.kafka.relay import complaint_event_topics
from lapor_es.projections import core
from lapor_es.projections.events import Coordinates, ProjectedEvent, from_notification
from lapor_es.projections.runners import LocalRunner
from lapor_es.readmodels import stats as st
from lapor_es.readmodels.complaints import ComplaintsModel
from lapor_es.readmodels.timestamps import as_utc
from tests.support.builders import (
    DESK,
    SYSTEM,
    agency_actor,
    file_cmd,
    reporter_actor,
    small_directory,
)
from tests.support.projections import read_model_service

pytestmark = pytest.mark.integration

COHORT_FROM, COHORT_TO = date(2026, 1, 1), date(2026, 1, 31)
MIDDLE = datetime(2026, 1, 22, 0, 0, tzinfo=UTC)  # Thu 22 Jan 07:00 WIB
END = datetime(2026, 2, 2, 0, 0, tzinfo=UTC)  # Mon 2 Feb 07:00 WIB, after everything


def jan(day: int, hour: int = 2) -> datetime:
    return datetime(2026, 1, day, hour, 0, tzinfo=UTC)


def due(day: int) -> datetime:
    """00:00 WIB of the next day: the end of working day `day` of January."""
    return datetime(2026, 1, day, 17, 0, tzinfo=UTC)


@dataclass
class Story:
    lapor: LaporApp
    settings: Settings
    ids: dict[str, str]  # C1.. -> tracking id


def do(lapor: LaporApp, when: datetime, **command: Any) -> Outcome:
    return lapor.handle(parse_command({**command, "at": when.isoformat()}))


def verify(tid: str, to: str, category: str) -> dict[str, Any]:
    return {
        "command": "verify",
        "actor": DESK,
        "complaint": tid,
        "title": f"Laporan {tid}",
        "category": category,
        "kind": "complaint",
        "visibility": "public",
        "to_agency": to,
    }


def respond(tid: str, agency: str, kind: str) -> dict[str, Any]:
    return {
        "command": "respond",
        "actor": agency_actor(agency),
        "complaint": tid,
        "kind": kind,
        "text": "Sudah ditindaklanjuti",
    }


def reply(tid: str, ref: str, kind: str) -> dict[str, Any]:
    return {
        "command": "reply",
        "actor": reporter_actor(ref),
        "complaint": tid,
        "kind": kind,
        "text": "Tanggapan pelapor",
    }


def play(lapor: LaporApp) -> dict[str, str]:
    """The scenario of the module docstring, in business-time order."""
    small_directory(lapor)
    ids: dict[str, str] = {}
    refs: dict[str, str] = {}

    def file(name: str, when: datetime, **overrides: Any) -> str:
        out = do(lapor, when, **file_cmd(**overrides))
        ids[name], refs[name] = str(out.tracking_id), str(out.reporter_ref)
        return ids[name]

    c1 = file("C1", jan(5))
    c2 = file(
        "C2",
        jan(6),
        channel="sms-1708",
        reporter={"name": "Rudi Hartono", "phone": "081311112222"},
    )
    do(lapor, jan(6), **verify(c1, "KEMENKES", "Kesehatan"))
    c3 = file("C3", jan(7), channel="android", category="Lainnya")
    c4 = file("C4", jan(7, 3))
    do(lapor, jan(7), **verify(c2, "KEMENSOS", "Bansos"))
    do(
        lapor,
        jan(7),
        command="forward",
        actor=agency_actor("KEMENKES"),
        complaint=c1,
        to_agency="KEMENKES.YANKES",
    )
    c5 = file("C5", jan(8))
    do(lapor, jan(8), command="archive", actor=DESK, complaint=c3, reason="too_general")
    do(lapor, jan(8), command="merge", actor=DESK, complaint=c4, into=c1)
    do(lapor, jan(8), **respond(c2, "KEMENSOS", "interim"))
    do(lapor, jan(9), **respond(c1, "KEMENKES.YANKES", "final"))
    do(lapor, jan(9), command="postpone", actor=DESK, complaint=c5, reason="Lokasi kurang jelas")
    c6 = file("C6", jan(12), channel="ios")
    do(lapor, jan(12), **reply(c1, refs["C1"], "confirm"))
    do(lapor, jan(12), **respond(c2, "KEMENSOS", "final"))
    c7 = file("C7", jan(13))
    do(
        lapor,
        jan(13),
        command="supplement",
        actor=reporter_actor(refs["C5"]),
        complaint=c5,
        text="Jalan Merdeka No. 5",
    )
    do(lapor, jan(13), **verify(c6, "KEMENSOS", "Bansos"))
    do(
        lapor,
        jan(13),
        command="change_visibility",
        actor=DESK,
        complaint=c1,
        visibility="confidential",
        reason="Menyangkut pihak ketiga",
    )
    c8 = file("C8", jan(14), channel="social")
    do(lapor, jan(14), **verify(c5, "PROV-JABAR", "Jalan"))
    do(
        lapor,
        jan(14),
        command="forward",
        actor=agency_actor("KEMENSOS"),
        complaint=c6,
        to_agency="KEMENSOS.LINJAMSOS",
    )
    do(lapor, jan(14), **verify(c7, "KEMENKES", "Kesehatan"))
    do(lapor, jan(15), command="start", actor=agency_actor("PROV-JABAR"), complaint=c5)
    do(
        lapor,
        jan(15),
        command="decline",
        actor=agency_actor("KEMENSOS.LINJAMSOS"),
        complaint=c6,
        reason="Bukan wewenang unit ini",
    )
    do(lapor, jan(15), **verify(c8, "PROV-JABAR", "Jalan"))
    do(
        lapor,
        jan(19),
        command="decline",
        actor=agency_actor("KEMENSOS"),
        complaint=c6,
        reason="Bukan wewenang kementerian",
        suggested_agency="KEMENKES",
    )
    do(lapor, jan(19), **respond(c7, "KEMENKES", "final"))
    do(lapor, jan(20), command="forward", actor=DESK, complaint=c6, to_agency="KEMENKES")
    do(lapor, jan(20), **reply(c7, refs["C7"], "confirm"))
    do(lapor, jan(21), **respond(c5, "PROV-JABAR", "interim"))
    c9 = file("C9", jan(26))
    do(lapor, jan(26), command="reopen", actor=DESK, complaint=c7, reason="Pelapor melapor lagi")
    ladder = {"complaint": c6, "actor": SYSTEM, "clock": "follow_up", "due_at": due(27).isoformat()}
    do(lapor, due(26), command="warn_sla", **ladder)
    do(lapor, due(27), command="breach_sla", **ladder)
    do(lapor, due(27), command="escalate", level="parent", **ladder)
    do(lapor, jan(28), command="resolve", actor=SYSTEM, complaint=c2, mode="auto_closed")
    do(lapor, jan(28), **respond(c7, "KEMENKES", "final"))
    do(lapor, jan(29), **respond(c6, "KEMENKES", "final"))
    do(lapor, jan(29), **reply(c7, refs["C7"], "confirm"))
    do(lapor, jan(30), **reply(c6, refs["C6"], "dispute"))
    do(
        lapor,
        jan(30),
        command="erase_reporter",
        actor=DESK,
        reporter_ref=refs["C2"],
        reason="Permintaan pelapor",
    )
    assert c9
    return ids


@pytest.fixture
def story(lapor: LaporApp, settings: Settings) -> Story:
    return Story(lapor, settings, play(lapor))


@pytest.fixture
def engine(settings: Settings) -> Engine:
    return read_model_service(settings).engine


def project(story: Story, engine: Engine) -> ComplaintsModel:
    model = ComplaintsModel(calendar=story.settings.calendar)
    core.create_all(engine, [model])
    LocalRunner(story.lapor.recorder, story.lapor.mapper, core.Projector(engine, [model])).run()
    return model


def snapshot(engine: Engine, model: ComplaintsModel) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t.name: sorted(tuple(r) for r in conn.execute(select(t)))
            for t in (model.facts, model.states, model.forwardings)
        }


def facts_by_name(story: Story, engine: Engine, model: ComplaintsModel) -> dict[str, Any]:
    by_tid = {v: k for k, v in story.ids.items()}
    with engine.connect() as conn:
        rows = conn.execute(select(model.facts)).mappings().all()
    return {by_tid[r["tracking_id"]]: dict(r) for r in rows}


def cohort(as_of: datetime) -> st.Cohort:
    return st.Cohort(COHORT_FROM, COHORT_TO, as_of)


# ---------------------------------------------------------------------------- facts
EXPECTED_FACTS: dict[str, dict[str, Any]] = {
    # wd: C1 (5,6]=1, first fwd 6 -> response 9: (6,9]=3, (5,12]=5.
    "C1": {
        "filed_day": date(2026, 1, 5), "channel": "web", "category": "Kesehatan",
        "visibility": "confidential", "state": "RESOLVED", "bucket": "Terdisposisi, Selesai",
        "agency": "KEMENKES", "holder": "KEMENKES.YANKES", "verified_at": jan(6),
        "first_forwarded_at": jan(6), "first_response_at": jan(9), "final_response_at": jan(9),
        "resolved_at": jan(12), "resolution_mode": "confirmed_by_reporter",
        "archived_at": None, "merged_into": None, "reopen_count": 0, "decline_count": 0,
        "sla_breaches": 0, "version": 9, "wd_to_verification": 1,  # 9: + DuplicateMerged (C4)
        "wd_to_first_response": 3, "wd_to_resolution": 5, "reporter_erased": False,
    },
    # (6,7]=1, (7,8]=1, (6,28] = 7,8,9,12,13,14,15,19..23,26,27,28 = 15.
    "C2": {
        "filed_day": date(2026, 1, 6), "channel": "sms-1708", "category": "Bansos",
        "state": "RESOLVED", "agency": "KEMENSOS", "holder": "KEMENSOS",
        "first_response_at": jan(8), "final_response_at": jan(12), "resolved_at": jan(28),
        "resolution_mode": "auto_closed", "version": 7, "wd_to_verification": 1,
        "wd_to_first_response": 1, "wd_to_resolution": 15, "reporter_erased": True,
    },
    "C3": {
        "channel": "android", "category": "Lainnya", "state": "ARCHIVED",
        "bucket": "Laporan Arsip", "agency": None, "holder": None, "verified_at": None,
        "archived_at": jan(8), "archive_reason": "too_general", "version": 2,
        "wd_to_verification": None,
    },
    "C4": {
        "state": "ARCHIVED", "archived_at": jan(8), "archive_reason": "duplicate",
        "version": 2, "agency": None,
    },
    # (8,14] = 9,12,13,14 = 4 (the postponement is not taken out); (14,21] = 15,19,20,21 = 4.
    "C5": {
        "state": "IN_PROGRESS", "bucket": "Terdisposisi, Sedang Diproses",
        "category": "Jalan", "agency": "PROV-JABAR", "holder": "PROV-JABAR",
        "verified_at": jan(14), "first_response_at": jan(21), "final_response_at": None,
        "resolved_at": None, "version": 7, "wd_to_verification": 4,
        "wd_to_first_response": 4, "wd_to_resolution": None,
    },
    # (12,13]=1; first fwd 13 -> response 29: 14,15,19..23,26..29 = 11.
    "C6": {
        "channel": "ios", "state": "IN_PROGRESS", "agency": "KEMENKES",
        "holder": "KEMENKES", "verified_at": jan(13), "first_forwarded_at": jan(13),
        "first_response_at": jan(29), "decline_count": 2, "sla_warnings": 1,
        "sla_breaches": 1, "escalations": 1, "version": 12, "wd_to_verification": 1,
        "wd_to_first_response": 11, "wd_to_resolution": None,
    },
    # (13,14]=1, (14,19] = 15,19 = 2, (13,29] = 14,15,19..23,26..29 = 11.
    "C7": {
        "state": "RESOLVED", "agency": "KEMENKES", "first_response_at": jan(19),
        "final_response_at": jan(28), "resolved_at": jan(29), "reopen_count": 1,
        "version": 10, "wd_to_verification": 1, "wd_to_first_response": 2,
        "wd_to_resolution": 11,
    },
    "C8": {
        "channel": "social", "state": "FORWARDED",
        "bucket": "Terdisposisi, Belum Ditindaklanjuti", "agency": "PROV-JABAR",
        "first_response_at": None, "version": 3, "wd_to_verification": 1,
    },
    "C9": {
        "filed_day": date(2026, 1, 26), "state": "SUBMITTED", "bucket": "Belum Terverifikasi",
        "verified_at": None, "agency": None, "holder": None, "version": 1,
    },
}  # fmt: skip


def test_facts_rows_are_the_story(story: Story, engine: Engine) -> None:
    model = project(story, engine)
    facts = facts_by_name(story, engine, model)
    assert set(facts) == set(EXPECTED_FACTS)
    for name, expected in EXPECTED_FACTS.items():
        row = facts[name]
        actual = {k: as_utc(row[k]) if isinstance(row[k], datetime) else row[k] for k in expected}
        assert actual == expected, name
    assert facts["C4"]["merged_into"] == story.ids["C1"]


def test_state_intervals_and_forwardings(story: Story, engine: Engine) -> None:
    model = project(story, engine)
    cid = {n: str(story.lapor.complaint(t).id) for n, t in story.ids.items()}
    with engine.connect() as conn:
        states = conn.execute(
            select(
                model.states.c.version,
                model.states.c.state,
                model.states.c.since,
                model.states.c.until,
            )
            .where(model.states.c.complaint_id == cid["C7"])
            .order_by(model.states.c.version)
        ).all()
        fws = conn.execute(
            select(
                model.forwardings.c.version,
                model.forwardings.c.agency,
                model.forwardings.c.top_agency,
                model.forwardings.c.level,
                model.forwardings.c.forwarded_at,
                model.forwardings.c.due_at,
                model.forwardings.c.followed_up_at,
                model.forwardings.c.ended_at,
                model.forwardings.c.outcome,
                model.forwardings.c.within_sla,
            )
            .where(model.forwardings.c.complaint_id.in_([cid["C6"], cid["C8"]]))
            .order_by(model.forwardings.c.forwarded_at)
        ).all()
    assert [(v, s, as_utc(a), as_utc(b)) for v, s, a, b in states] == [
        (1, "SUBMITTED", jan(13), jan(14)),
        (3, "FORWARDED", jan(14), jan(19)),
        (4, "RESPONDED", jan(19), jan(20)),
        (6, "RESOLVED", jan(20), jan(26)),
        (7, "IN_PROGRESS", jan(26), jan(28)),
        (8, "RESPONDED", jan(28), jan(29)),
        (10, "RESOLVED", jan(29), None),
    ]
    got = [(*r[:4], *(as_utc(x) for x in r[4:8]), r[8], r[9]) for r in fws]
    assert got == [
        (3, "KEMENSOS", "KEMENSOS", "agency", jan(13), due(21), None, jan(19), "declined", None),
        (4, "KEMENSOS.LINJAMSOS", "KEMENSOS", "unit", jan(14), due(22), None, jan(15),
         "declined", None),
        (3, "PROV-JABAR", "PROV-JABAR", "agency", jan(15), due(23), None, None, "open", None),
        (7, "KEMENKES", "KEMENKES", "agency", jan(20), due(27), jan(29), jan(29), "responded",
         False),
        # The dispute restarts KEMENKES's follow-up clock: a clock of its own (issue 10 item 5).
        (12, "KEMENKES", "KEMENKES", "dispute", jan(30), datetime(2026, 2, 6, 17, tzinfo=UTC),
         None, None, "open", None),
    ]  # fmt: skip


# ---------------------------------------------------------------------------- rates
def test_completion_rates_in_the_middle_and_at_the_end(story: Story, engine: Engine) -> None:
    model = project(story, engine)
    with engine.connect() as conn:
        middle = st.completion(conn, model, cohort(MIDDLE))
        end = st.completion(conn, model, cohort(END))
        by_agency = st.completion(conn, model, cohort(MIDDLE), by="agency")
        early = st.completion(conn, model, cohort(jan(15, 0)), by="agency")
        kemenkes = st.completion(conn, model, cohort(MIDDLE), st.Filters(agency="KEMENKES"))
        web = st.completion(conn, model, cohort(END), st.Filters(channel="web"))
    # Middle (22 Jan 00:00Z): C9 not filed yet; resolved C1, C7 (first resolution);
    # followed up also C2 (RESPONDED), C5 (IN_PROGRESS); verified C1, C2, C5, C6, C7, C8.
    # The last count: C4, merged into C1 (archived too).
    assert middle == [st.CompletionRow(st.ALL, 8, 6, 4, 2, 2, 0, 1)]
    assert middle[0].completion_rate == 2 / 8
    assert middle[0].follow_up_rate == 4 / 8
    assert middle[0].verified_completion_rate == 2 / 6
    # End: + C9 filed (SUBMITTED); C2 resolved; C6 IN_PROGRESS after the dispute.
    assert end == [st.CompletionRow(st.ALL, 9, 6, 5, 3, 2, 0, 1)]
    assert end[0].completion_rate_without_duplicates == 3 / 8
    assert (end[0].completion_rate, end[0].follow_up_rate) == (3 / 9, 5 / 9)
    assert end[0].verified_completion_rate == 3 / 6
    # Agency as of the middle: C6 already re-forwarded to KEMENKES on 20 Jan.
    assert by_agency == [
        st.CompletionRow("(none)", 2, 0, 0, 0, 2, 0, 1),
        st.CompletionRow("KEMENKES", 3, 3, 2, 2, 0, 0),
        st.CompletionRow("KEMENSOS", 1, 1, 1, 0, 0, 0),
        st.CompletionRow("PROV-JABAR", 2, 2, 1, 0, 0, 0),
    ]
    assert kemenkes == [st.CompletionRow(st.ALL, 3, 3, 2, 2, 0, 0)]
    # 15 Jan 00:00Z: C6 was with KEMENSOS then; C8 not yet verified (15 Jan 02:00Z).
    assert {r.key: r.filed for r in early} == {
        "(none)": 3,  # C3, C4 archived; C8 still at the desk
        "KEMENKES": 2,  # C1, C7
        "KEMENSOS": 2,  # C2, C6
        "PROV-JABAR": 1,  # C5
    }
    # Web: C1, C5, C7, C9 (C3 android, C4 web too) -> C1, C4, C5, C7, C9.
    assert web == [st.CompletionRow(st.ALL, 5, 3, 3, 2, 1, 0, 1)]


def test_durations_as_of_two_times(story: Story, engine: Engine) -> None:
    model = project(story, engine)
    with engine.connect() as conn:
        end = {r.metric: r for r in st.durations(conn, model, cohort(END))}
        middle = {r.metric: r for r in st.durations(conn, model, cohort(MIDDLE))}
    # Verification [1,1,1,1,1,4]: median = 3rd = 1, p90 = 6th = 4.
    assert end["verification"] == st.DurationRow(st.ALL, "verification", 6, 1, 4)
    # First response [1,2,3,4,11]: median = 3rd = 3, p90 = 5th = 11.
    assert end["first_response"] == st.DurationRow(st.ALL, "first_response", 5, 3, 11)
    # Resolution [5 (C1), 11 (C7, second), 15 (C2)]: median 11, p90 15.
    assert end["resolution"] == st.DurationRow(st.ALL, "resolution", 3, 11, 15)
    assert middle["verification"] == st.DurationRow(st.ALL, "verification", 6, 1, 4)
    # By the middle: C2 1, C7 2, C1 3, C5 4 -> median 2nd = 2, p90 4th = 4.
    assert middle["first_response"] == st.DurationRow(st.ALL, "first_response", 4, 2, 4)
    # C7's first resolution (13 -> 20 Jan: 14,15,19,20 = 4) and C1's 5.
    assert middle["resolution"] == st.DurationRow(st.ALL, "resolution", 2, 4, 5)


def test_sla_compliance_ranking_and_slowest(story: Story, engine: Engine) -> None:
    model = project(story, engine)
    with engine.connect() as conn:
        end = st.sla_compliance(conn, model, cohort(END))
        middle = st.sla_compliance(conn, model, cohort(MIDDLE))
        ranked = st.ranking(conn, model, cohort(END), min_sample=2)
        slow = st.slowest(conn, model, cohort(END), min_sample=1)
        default_ranked = st.ranking(conn, model, cohort(END))
    # Every follow-up clock counts (issue 10 item 5): SlaRow(agency, clocks, met, breached,
    # running, withdrawn). KEMENKES: C1 (agency + unit), C7 and C7's reopen (26 -> final 28,
    # due 2 Feb) in time, C6 late, C6's dispute (30 Jan, due 6 Feb) running. KEMENSOS: C2 and
    # the clock C2's interim response restarted (due 15T17, final 12) in time; C6's two
    # declined before their due times withdrawn. PROV-JABAR: C5 in time, then silent after
    # its interim response (due 28T17); C8 overdue.
    assert end == [
        st.SlaRow("KEMENKES", 6, 4, 1, 1, 0),
        st.SlaRow("KEMENSOS", 4, 2, 0, 0, 2),
        st.SlaRow("PROV-JABAR", 3, 1, 2, 0, 0),
    ]
    assert end[0].compliance == 0.8
    # Middle: C6 at KEMENKES is not due yet (27T17), nor C8 at PROV-JABAR (23T17), nor C5's
    # restarted clock (28T17); C7's reopen is still to come.
    assert middle == [
        st.SlaRow("KEMENKES", 4, 3, 0, 1, 0),
        st.SlaRow("KEMENSOS", 4, 2, 0, 0, 2),
        st.SlaRow("PROV-JABAR", 3, 1, 0, 2, 0),
    ]
    assert ranked == [
        st.RankingRow(1, "KEMENSOS", 2, 2, 1.0),
        st.RankingRow(2, "KEMENKES", 5, 4, 0.8),
        st.RankingRow(3, "PROV-JABAR", 3, 1, 1 / 3),
    ]
    assert default_ranked == []  # nobody has 20 judged forwardings
    # First response by agency: PROV-JABAR [4]; KEMENKES [2, 3, 11] median 3; KEMENSOS [1].
    assert slow == [
        st.SlowRow("PROV-JABAR", 1, 4, 4),
        st.SlowRow("KEMENKES", 3, 3, 11),
        st.SlowRow("KEMENSOS", 1, 1, 1),
    ]


# ---------------------------------------------------------------------------- exactly once
def test_projecting_twice_changes_nothing(story: Story, engine: Engine) -> None:
    model = project(story, engine)
    before = snapshot(engine, model)
    project(story, engine)  # the runner resumes from its tracking: nothing to do
    # Every event delivered again from another source (as a Kafka redelivery would be):
    notes = story.lapor.recorder.select_notifications(
        start=0, limit=10_000, topics=complaint_event_topics(), inclusive_of_start=False
    )
    again: list[ProjectedEvent] = []
    for n in notes:
        ev = from_notification(n, story.lapor.mapper)
        again.append(
            ProjectedEvent(ev.payload, ev.raw, Coordinates("redelivery", 0, n.id), ev.position)
        )
    result = core.Projector(engine, [model]).process(again)
    assert (result.applied, result.duplicates, result.parked) == (0, len(again), 0)
    assert snapshot(engine, model) == before


def test_views_agree_with_the_functions(story: Story, engine: Engine) -> None:
    model = project(story, engine)
    now = st.Cohort(COHORT_FROM, COHORT_TO, datetime.now(UTC))
    with engine.connect() as conn:
        by_agency = {r.key: r for r in st.completion(conn, model, now, by="agency")}
        sla = {r.agency: r for r in st.sla_compliance(conn, model, now)}
        view_completion = conn.execute(text("SELECT * FROM v_completion_by_agency")).mappings()
        view_sla = conn.execute(text("SELECT * FROM v_agency_sla")).mappings().all()
        daily = conn.execute(
            text(
                "SELECT SUM(filed), SUM(verified), SUM(forwarded), SUM(responded), "
                "SUM(resolved), SUM(archived) FROM v_daily_counts"
            )
        ).one()
        complaints = conn.execute(text("SELECT COUNT(*), SUM(is_resolved) FROM v_complaints")).one()
        seen = 0
        for row in view_completion:
            fn = by_agency[row["agency"] or st.NONE]
            assert (row["filed"], row["verified"], row["followed_up"], row["resolved"]) == (
                fn.filed, fn.verified, fn.followed_up, fn.resolved,
            )  # fmt: skip
            assert float(row["completion_rate"]) == pytest.approx(fn.completion_rate)
            seen += 1
        assert seen == len(by_agency) == 4
    counts = ("clocks", "met", "breached", "running", "withdrawn")
    assert {r["agency"]: tuple(r[c] for c in counts) for r in view_sla} == {
        a: tuple(getattr(r, c) for c in counts) for a, r in sla.items()
    }
    for r in view_sla:
        assert float(r["compliance"]) == pytest.approx(sla[r["agency"]].compliance)
    # Current counts: 9 filed, 6 verified and forwarded, 5 responded (C1, C2, C5, C6, C7),
    # 3 resolved, 2 archived.
    assert tuple(int(v) for v in daily) == (9, 6, 6, 5, 3, 2)
    assert tuple(int(v) for v in complaints) == (9, 3)


# The query of docs/data-dictionary.md, verbatim apart from the bound values.
QUARTER_QUERY = """
SELECT COUNT(*) AS filed,
       SUM(CASE WHEN s.state = 'RESOLVED' THEN 1 ELSE 0 END) AS resolved,
       1.0 * SUM(CASE WHEN s.state = 'RESOLVED' THEN 1 ELSE 0 END) / NULLIF(COUNT(*), 0)
         AS completion_rate
FROM complaint_facts f
JOIN complaint_states s
  ON s.complaint_id = f.complaint_id
 AND s.since <= :as_of AND (s.until IS NULL OR s.until > :as_of)
WHERE f.filed_day BETWEEN :filed_from AND :filed_to
  AND f.filed_at <= :as_of
  AND f.category = :category
  AND (SELECT fw.agency FROM complaint_forwardings fw
        WHERE fw.complaint_id = f.complaint_id
          AND fw.level = 'agency' AND fw.forwarded_at <= :as_of
        ORDER BY fw.forwarded_at DESC, fw.version DESC
        LIMIT 1) = :agency
"""


def test_the_documented_quarter_query(story: Story, engine: Engine) -> None:
    from sqlalchemy import Date, DateTime, bindparam

    model = project(story, engine)
    query = text(QUARTER_QUERY).bindparams(
        bindparam("as_of", type_=DateTime(timezone=True)),
        bindparam("filed_from", type_=Date),
        bindparam("filed_to", type_=Date),
    )
    with engine.connect() as conn:
        filed, resolved, rate = conn.execute(
            query,
            {
                "as_of": MIDDLE,
                "filed_from": COHORT_FROM,
                "filed_to": COHORT_TO,
                "category": "Kesehatan",
                "agency": "KEMENKES",
            },
        ).one()
        fn = st.completion(
            conn, model, cohort(MIDDLE), st.Filters(agency="KEMENKES", category="Kesehatan")
        )
    # Kesehatan at KEMENKES as of the middle: C1, C7 (both resolved then); C6 is Bansos.
    assert (filed, resolved) == (2, 2) == (fn[0].filed, fn[0].resolved)
    assert float(rate) == 1.0
