"""The SLA timer service against real stores: ladder times, exactly-once, catch-up, a year.

Dates are in late 2025 (the engine refuses commands dated in the real future). The calendar
facts used below: no Indonesian holiday falls on a weekday from October to 24 December 2025;
25 and 26 December 2025 (Christmas, cuti bersama), 1 January 2026 (New Year) and 16 January
2026 (Isra Mi'raj) are not working days. WIB is UTC+7, so 00:00 WIB is 17:00Z the day before.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, select

from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.commands import Outcome, parse_command
from lapor_es.config import Settings
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.projections.core import create_all
from lapor_es.readmodels.deadlines import DeadlinesModel
from lapor_es.timers import TimerService
from tests.support.builders import DESK, agency_actor, file_cmd, reporter_actor, small_directory
from tests.support.projections import read_model_service

pytestmark = pytest.mark.integration


def z(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def act(lapor: LaporApp, at: str | datetime, **command: Any) -> Outcome:
    when = at if isinstance(at, datetime) else z(at)
    return lapor.handle(parse_command({**command, "at": when.isoformat()}))


@pytest.fixture
def engine(settings: Settings) -> Engine:
    return read_model_service(settings).engine


def timer(lapor: LaporApp, engine: Engine) -> TimerService:
    model = DeadlinesModel(calendar=lapor.calendar, policy=lapor.policy)
    create_all(engine, [model])
    return TimerService(lapor, engine, model=model)


def ladder_events(lapor: LaporApp, tracking_id: str) -> list[tuple[str, str, str]]:
    """(event, detail, at) of the timer's events: what the history shows of the ladder."""
    out = []
    for e in lapor.history(lapor.complaint(tracking_id).id):
        name = type(e).__name__
        at = e.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if name == "Escalated":
            out.append((name, f"{e.level}->{e.to_agency}", at))  # type: ignore[attr-defined]
        elif name in ("SlaWarned", "SlaBreached"):
            out.append((name, e.clock, at))  # type: ignore[attr-defined]
        elif name == "Resolved":
            out.append((name, e.mode, at))  # type: ignore[attr-defined]
    return out


def forwarded_to_unit(lapor: LaporApp) -> str:
    """Filed Fri 31 Oct 2025, verified to KEMENKES Mon 3 Nov 10:00 WIB, passed down to
    KEMENKES.ITJEN at 11:00 WIB, then ignored. Follow-up: 4, 5, 6, 7, 10 Nov, due
    11 Nov 00:00 WIB (2025-11-10T17:00Z); warning at 10 Nov 00:00 WIB (2025-11-09T17:00Z);
    national at the end of 11, 12, 13, 14, 17 Nov: 18 Nov 00:00 WIB (2025-11-17T17:00Z)."""
    small_directory(lapor)
    tid = str(act(lapor, "2025-10-31T02:00:00Z", **file_cmd()).tracking_id)
    act(
        lapor,
        "2025-11-03T03:00:00Z",
        command="verify",
        actor=DESK,
        complaint=tid,
        title="Air PDAM",
        category="Air Bersih",
        kind="complaint",
        visibility="public",
        to_agency="KEMENKES",
    )
    act(
        lapor,
        "2025-11-03T04:00:00Z",
        command="forward",
        actor=agency_actor("KEMENKES"),
        complaint=tid,
        to_agency="KEMENKES.ITJEN",
    )
    return tid


FULL_LADDER = [
    ("SlaWarned", "follow_up", "2025-11-09T17:00:00Z"),
    ("SlaBreached", "follow_up", "2025-11-10T17:00:00Z"),
    ("Escalated", "parent->KEMENKES", "2025-11-10T17:00:00Z"),
    ("Escalated", "national->LAPOR", "2025-11-17T17:00:00Z"),
]


# ---------------------------------------------------------------- (a) the ladder, once
def test_ignored_follow_up_walks_the_ladder_at_its_times(lapor: LaporApp, engine: Engine) -> None:
    tid = forwarded_to_unit(lapor)
    service = timer(lapor, engine)
    instants = [
        "2025-11-09T16:59:59Z",  # nothing yet
        "2025-11-09T17:00:00Z",  # warning
        "2025-11-10T16:59:59Z",
        "2025-11-10T17:00:00Z",  # breach + parent
        "2025-11-17T16:59:59Z",
        "2025-11-17T17:00:00Z",  # national
        "2025-12-31T17:00:00Z",  # ladder complete: nothing more, ever
    ]
    seen = []
    for instant in instants:
        service.run_until(z(instant))
        seen.append(len(ladder_events(lapor, tid)))
    assert seen == [0, 1, 1, 3, 3, 4, 4]
    assert ladder_events(lapor, tid) == FULL_LADDER
    row = deadline_row(engine, lapor, tid)
    assert row["holder"] == "KEMENKES.ITJEN"
    assert row["state"] == "FORWARDED"
    assert row["next_step"] is None and row["next_at"] is None
    assert (row["warned"], row["breached"], row["escalated_parent"], row["escalated_national"]) == (
        True,
        True,
        True,
        True,
    )


def deadline_row(engine: Engine, lapor: LaporApp, tid: str) -> dict[str, Any]:
    table = DeadlinesModel(calendar=lapor.calendar, policy=lapor.policy).deadlines
    with engine.connect() as conn:
        row = (
            conn.execute(select(table).where(table.c.complaint_id == str(lapor.complaint(tid).id)))
            .mappings()
            .one_or_none()
        )
    return {} if row is None else dict(row)


def test_running_twice_and_restarting_mid_way_records_each_step_once(
    lapor: LaporApp, engine: Engine
) -> None:
    tid = forwarded_to_unit(lapor)
    first = timer(lapor, engine)
    first.run_until(z("2025-11-09T17:00:00Z"))
    first.run_until(z("2025-11-09T17:00:00Z"))
    restarted = timer(lapor, engine)  # a fresh process: nothing kept but the tables
    report = restarted.run_until(z("2025-11-10T17:00:00Z"))
    assert report.recorded == {"breach_sla": 1, "escalate": 1}
    again = restarted.run_until(z("2025-11-10T17:00:00Z"))
    assert again.recorded == {} and again.already == 0 and again.moved_on == 0
    timer(lapor, engine).run_until(z("2025-11-20T00:00:00Z"))
    timer(lapor, engine).run_until(z("2025-11-20T00:00:00Z"))
    assert [e[:2] for e in ladder_events(lapor, tid)] == [e[:2] for e in FULL_LADDER]
    # The national escalation is dated when the (late) timer acted, not back-dated.
    assert ladder_events(lapor, tid)[-1][2] == "2025-11-20T00:00:00Z"


def test_a_stale_timer_replaying_done_steps_is_harmless(lapor: LaporApp, engine: Engine) -> None:
    """A duplicated service whose view is old re-issues recorded steps: already_recorded."""
    tid = forwarded_to_unit(lapor)
    service = timer(lapor, engine)
    service.run_until(z("2025-11-10T17:00:00Z"))
    from lapor_es.timers import commands_for

    stale = DeadlinesModel.from_row(deadline_row(engine, lapor, tid))
    from lapor_es.workflow import LadderStep

    outcomes = []
    for step in (LadderStep.WARNING, LadderStep.BREACH):
        for command in commands_for(stale, step, z("2025-11-11T00:00:00Z")):
            try:
                lapor.handle(command)
                outcomes.append("recorded")
            except Exception as exc:
                outcomes.append(getattr(exc, "code", "?"))
    assert outcomes == ["already_recorded", "already_recorded", "already_recorded"]
    assert len(ladder_events(lapor, tid)) == 3


def test_two_services_racing_in_threads_record_each_step_once(
    settings: Settings, lapor: LaporApp, engine: Engine
) -> None:
    tids = [forwarded_to_unit(lapor)]
    for _ in range(5):  # more complaints on the same ladder: more chances to collide
        tid = str(act(lapor, "2025-11-03T05:00:00Z", **file_cmd()).tracking_id)
        act(
            lapor,
            "2025-11-03T05:30:00Z",
            command="verify",
            actor=DESK,
            complaint=tid,
            title="Air PDAM",
            category="Air Bersih",
            kind="complaint",
            visibility="public",
            to_agency="KEMENSOS",
        )
        tids.append(tid)
    apps = [open_app(settings) for _ in range(2)]
    engines = [read_model_service(settings).engine for _ in range(2)]
    try:
        services = [timer(a, e) for a, e in zip(apps, engines, strict=True)]
        errors: list[BaseException] = []
        start = threading.Barrier(2)

        def run(service: TimerService) -> None:
            try:
                start.wait()
                for instant in ("2025-11-09T17:00:00Z", "2025-11-10T17:00:00Z"):
                    service.run_until(z(instant))
                service.run_until(z("2025-11-17T17:00:00Z"))
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(s,)) for s in services]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
    finally:
        for a in apps:
            a.close()
    assert ladder_events(lapor, tids[0]) == FULL_LADDER
    for tid in tids[1:]:  # KEMENSOS is top-level: its parent is the national desk
        assert [e[:2] for e in ladder_events(lapor, tid)] == [
            ("SlaWarned", "follow_up"),
            ("SlaBreached", "follow_up"),
            ("Escalated", "parent->LAPOR"),
            ("Escalated", "national->LAPOR"),
        ]


# ---------------------------------------------------------------- (b) the reply window
def responded(lapor: LaporApp) -> tuple[str, str]:
    """Final response Wed 5 Nov 2025 10:00 WIB. Reply window: 6, 7, 10, 11, 12, 13, 14, 17,
    18, 19 Nov, due 20 Nov 00:00 WIB (2025-11-19T17:00Z)."""
    small_directory(lapor)
    filed = act(lapor, "2025-11-03T02:00:00Z", **file_cmd())
    tid, ref = str(filed.tracking_id), str(filed.reporter_ref)
    act(
        lapor,
        "2025-11-03T03:00:00Z",
        command="verify",
        actor=DESK,
        complaint=tid,
        title="Air PDAM",
        category="Air Bersih",
        kind="complaint",
        visibility="public",
        to_agency="KEMENKES",
    )
    act(
        lapor,
        "2025-11-05T03:00:00Z",
        command="respond",
        actor=agency_actor("KEMENKES"),
        complaint=tid,
        kind="final",
        text="Pipa sudah diperbaiki petugas.",
    )
    return tid, ref


def test_final_response_without_reply_is_auto_closed_exactly_at_ten_working_days(
    lapor: LaporApp, engine: Engine
) -> None:
    tid, _ = responded(lapor)
    service = timer(lapor, engine)
    service.run_until(z("2025-11-19T16:59:59Z"))
    assert lapor.complaint(tid).state == "RESPONDED"
    report = service.run_until(z("2025-11-19T17:00:00Z"))
    assert report.recorded == {"resolve": 1}
    assert ladder_events(lapor, tid) == [("Resolved", "auto_closed", "2025-11-19T17:00:00Z")]
    assert deadline_row(engine, lapor, tid) == {}  # no clock runs any more
    service.run_until(z("2025-12-31T17:00:00Z"))
    assert len(ladder_events(lapor, tid)) == 1


def test_a_comment_restarts_the_reply_window(lapor: LaporApp, engine: Engine) -> None:
    tid, ref = responded(lapor)
    # Mon 17 Nov 10:00 WIB: 18, 19, 20, 21, 24, 25, 26, 27, 28 Nov, 1 Dec: due 2 Dec 00:00 WIB.
    act(
        lapor,
        "2025-11-17T03:00:00Z",
        command="reply",
        actor=reporter_actor(ref),
        complaint=tid,
        kind="comment",
        text="Masih keruh airnya.",
    )
    service = timer(lapor, engine)
    service.run_until(z("2025-11-19T17:00:00Z"))
    service.run_until(z("2025-12-01T16:59:59Z"))
    assert lapor.complaint(tid).state == "RESPONDED"
    service.run_until(z("2025-12-01T17:00:00Z"))
    assert ladder_events(lapor, tid) == [("Resolved", "auto_closed", "2025-12-01T17:00:00Z")]


def test_a_dispute_stops_the_reply_window(lapor: LaporApp, engine: Engine) -> None:
    tid, ref = responded(lapor)
    # Dispute Mon 17 Nov 10:00 WIB: follow-up 18, 19, 20, 21, 24 Nov, due 2025-11-24T17:00Z,
    # warning 2025-11-23T17:00Z.
    act(
        lapor,
        "2025-11-17T03:00:00Z",
        command="reply",
        actor=reporter_actor(ref),
        complaint=tid,
        kind="dispute",
        text="Belum diperbaiki.",
    )
    service = timer(lapor, engine)
    service.run_until(z("2025-11-23T16:59:59Z"))
    assert lapor.complaint(tid).state == "IN_PROGRESS"
    assert ladder_events(lapor, tid) == []
    service.run_until(z("2025-11-24T17:00:00Z"))
    assert ladder_events(lapor, tid) == [
        ("SlaWarned", "follow_up", "2025-11-24T17:00:00Z"),
        ("SlaBreached", "follow_up", "2025-11-24T17:00:00Z"),
        ("Escalated", "parent->LAPOR", "2025-11-24T17:00:00Z"),
    ]


# ---------------------------------------------------------------- (c) paused clocks
def test_a_postponed_clock_never_fires_and_resumes_on_supplement(
    lapor: LaporApp, engine: Engine
) -> None:
    small_directory(lapor)
    filed = act(lapor, "2025-10-31T02:00:00Z", **file_cmd())
    tid, ref = str(filed.tracking_id), str(filed.reporter_ref)
    # Verification due 6 Nov 00:00 WIB (3, 4, 5 Nov); postponed Mon 3 Nov: 2 days remain (4, 5).
    act(
        lapor,
        "2025-11-03T03:00:00Z",
        command="postpone",
        actor=DESK,
        complaint=tid,
        reason="Mohon lengkapi alamat.",
    )
    service = timer(lapor, engine)
    service.run_until(z("2026-01-02T00:00:00Z"))
    assert ladder_events(lapor, tid) == []
    row = deadline_row(engine, lapor, tid)
    assert (row["state"], row["due_at"], row["remaining_days"], row["next_at"]) == (
        "POSTPONED",
        None,
        2,
        None,
    )
    # Supplemented Mon 5 Jan 2026 10:00 WIB: 6, 7 Jan, due 8 Jan 00:00 WIB (2026-01-07T17:00Z).
    act(
        lapor,
        "2026-01-05T03:00:00Z",
        command="supplement",
        actor=reporter_actor(ref),
        complaint=tid,
        text="Alamat: Jl. Merdeka 1",
    )
    service.run_until(z("2026-01-07T16:59:59Z"))
    assert ladder_events(lapor, tid) == [("SlaWarned", "verification", "2026-01-07T16:59:59Z")]
    service.run_until(z("2026-01-07T17:00:00Z"))
    assert ladder_events(lapor, tid)[1:] == [
        ("SlaBreached", "verification", "2026-01-07T17:00:00Z"),
        ("Escalated", "parent->LAPOR", "2026-01-07T17:00:00Z"),
    ]


# ---------------------------------------------------------------- (d) a year in seconds
YEAR_START = datetime(2025, 1, 6, 3, 0, tzinfo=UTC)  # Mon 6 Jan 2025 10:00 WIB
YEAR_END = datetime(2026, 1, 2, 17, 0, tzinfo=UTC)  # 3 Jan 2026 00:00 WIB
COMPLAINTS = 200


def file_one(lapor: LaporApp, i: int, at: datetime) -> tuple[str, int]:
    """Complaint i takes path i % 5: 0 ignored at the desk, 1 ignored by a ministry, 2 ignored
    by a unit, 3 answered and never replied to, 4 answered and confirmed."""
    path = i % 5
    filed = act(
        lapor,
        at,
        **file_cmd(reporter={"name": f"Warga {i}", "phone": f"0812{i:08d}"}),
    )
    tid, ref = str(filed.tracking_id), str(filed.reporter_ref)
    if path == 0:
        return tid, path
    agency = "KEMENKES" if path != 1 else "KEMENSOS"
    act(
        lapor,
        at + timedelta(minutes=10),
        command="verify",
        actor=DESK,
        complaint=tid,
        title=f"Laporan {i}",
        category="Air Bersih",
        kind="complaint",
        visibility="public",
        to_agency=agency,
    )
    if path == 2:
        act(
            lapor,
            at + timedelta(minutes=20),
            command="forward",
            actor=agency_actor("KEMENKES"),
            complaint=tid,
            to_agency="KEMENKES.YANKES",
        )
    if path in (3, 4):
        act(
            lapor,
            at + timedelta(minutes=30),
            command="respond",
            actor=agency_actor(agency),
            complaint=tid,
            kind="final",
            text="Sudah ditindaklanjuti.",
        )
    if path == 4:
        act(
            lapor,
            at + timedelta(minutes=40),
            command="reply",
            actor=reporter_actor(ref),
            complaint=tid,
            kind="confirm",
            text="Terima kasih.",
        )
    return tid, path


def filing_time(i: int) -> datetime:
    # Every 43 hours or so: all weekdays and weekends, all hours of the day, over a year.
    return YEAR_START + timedelta(hours=43 * i + (i % 7))


def expected_ladder(lapor: LaporApp, tid: str, path: int, now: datetime) -> Counter[str]:
    """The ladder a complaint must show at `now`, from its own clock's due time:
    warning from 00:00 WIB of the due day (24 h before the due time), breach and parent
    escalation from the due time, national escalation from the end of the 5th working day
    after the due day; for an unanswered final response, auto-closure from the due time."""
    cal = lapor.calendar
    events = lapor.history(lapor.complaint(tid).id)
    first = next(e for e in events if type(e).__name__ in ("Filed",))
    want: Counter[str] = Counter()
    if path == 4:  # confirmed by the reporter: the timer has nothing to do
        return Counter({"Resolved:confirmed_by_reporter": 1})
    if path == 0:
        due = first.verification_due_at  # type: ignore[attr-defined]
    else:
        starts = [e for e in events if type(e).__name__ in ("Forwarded", "Responded")]
        last = starts[-1]
        due = (
            last.auto_resolve_due_at  # type: ignore[attr-defined]
            if path == 3
            else last.follow_up_due_at  # type: ignore[attr-defined]
        )
    if path == 3:
        if now >= due:
            want["Resolved:auto_closed"] = 1
        return want
    parent = {0: "LAPOR", 1: "LAPOR", 2: "KEMENKES"}[path]
    if now >= due - timedelta(hours=24):
        want["SlaWarned"] = 1
    if now >= due:
        want["SlaBreached"] = 1
        want[f"Escalated:parent->{parent}"] = 1
    if now >= cal.add_working_days(due - timedelta(hours=1), 5):
        want["Escalated:national->LAPOR"] = 1
    return want


def actual_ladder(lapor: LaporApp, tid: str) -> Counter[str]:
    got: Counter[str] = Counter()
    for name, detail, _ in ladder_events(lapor, tid):
        key = name if name in ("SlaWarned", "SlaBreached") else f"{name}:{detail}"
        got[key] += 1
    return got


def check_year(lapor: LaporApp, complaints: list[tuple[str, int]], now: datetime) -> None:
    missing = {
        tid: (expected_ladder(lapor, tid, path, now), actual_ladder(lapor, tid))
        for tid, path in complaints
        if expected_ladder(lapor, tid, path, now) != actual_ladder(lapor, tid)
    }
    assert missing == {}
    fired = sum(sum(actual_ladder(lapor, tid).values()) for tid, _ in complaints)
    assert fired > 400  # the year really exercised the ladder (guards a vacuous pass)


def test_a_year_day_by_day_misses_no_deadline(lapor: LaporApp, engine: Engine) -> None:
    small_directory(lapor)
    service = timer(lapor, engine)
    complaints: list[tuple[str, int]] = []
    i = 0
    day = datetime(2025, 1, 5, 17, 0, tzinfo=UTC)  # 00:00 WIB Mon 6 Jan 2025
    while day < YEAR_END:
        day += timedelta(days=1)
        while i < COMPLAINTS and filing_time(i) + timedelta(hours=1) < day:
            complaints.append(file_one(lapor, i, filing_time(i)))
            i += 1
        service.run_until(day)  # the timer wakes at every 00:00 WIB
    check_year(lapor, complaints, YEAR_END)
    # Waking at each 00:00 WIB, every step is recorded exactly when it fell due.
    for tid, path in complaints:
        for name, detail, at in ladder_events(lapor, tid):
            if detail != "confirmed_by_reporter":
                assert at.endswith("T17:00:00Z"), (tid, path, name, at)


def test_a_year_caught_up_after_downtime_misses_no_deadline(
    lapor: LaporApp, engine: Engine
) -> None:
    small_directory(lapor)
    complaints = [file_one(lapor, i, filing_time(i)) for i in range(COMPLAINTS)]
    service = timer(lapor, engine)
    report = service.run_until(YEAR_END)  # down all year: one pass catches everything up
    assert report.failed == 0
    check_year(lapor, complaints, YEAR_END)
    again = timer(lapor, engine).run_until(YEAR_END)
    assert again.recorded == {}


# ---------------------------------------------------------------- fed by Kafka
@pytest.mark.kafka
def test_timer_reads_deadlines_kept_by_a_kafka_projector(
    lapor: LaporApp, engine: Engine, kafka: KafkaSettings
) -> None:
    """External projection: the relay publishes, a projector consumer group keeps
    `sla_deadlines`, and the timer only reads it (no in-process catch-up)."""
    from lapor_es.kafka.relay import Relay
    from lapor_es.projections.core import Projector
    from lapor_es.projections.runners import KafkaRunner

    tid = forwarded_to_unit(lapor)
    model = DeadlinesModel(calendar=lapor.calendar, policy=lapor.policy)
    create_all(engine, [model])
    service = TimerService(lapor, engine, model=model, in_process=False)

    def publish_and_project() -> None:
        Relay(lapor.recorder, lapor.mapper, kafka, poll_interval=0.02).run(follow=False)
        KafkaRunner(kafka, f"{kafka.topic}.projector", Projector(engine, [model])).run(
            follow=False, idle_timeout=1.0
        )

    assert service.run_until(z("2025-11-09T17:00:00Z")).recorded == {}  # nothing projected yet
    publish_and_project()
    assert service.run_until(z("2025-11-09T17:00:00Z")).recorded == {"warn_sla": 1}
    # Not yet projected: the timer re-issues the warning, which the engine refuses as
    # already recorded, and nothing else happens.
    stale = service.run_until(z("2025-11-10T17:00:00Z"))
    assert (stale.recorded, stale.already) == ({}, 1)
    publish_and_project()
    assert service.run_until(z("2025-11-10T17:00:00Z")).recorded == {
        "breach_sla": 1,
        "escalate": 1,
    }
    assert ladder_events(lapor, tid)[:2] == [
        ("SlaWarned", "follow_up", "2025-11-09T17:00:00Z"),
        ("SlaBreached", "follow_up", "2025-11-10T17:00:00Z"),
    ]
