"""Optimistic concurrency on the in-memory store: a stale aggregate is never stored, and a
command that loses a race to another application is decided again on the fresh state."""

from __future__ import annotations

import itertools
import sys
import threading
from datetime import datetime, timedelta
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from lapor_es.aggregates import Actor, Role, RuleViolation
from lapor_es.application import Conflict, LaporApp
from lapor_es.bootstrap import in_memory_app
from lapor_es.commands import Command, Outcome, parse_command
from tests.conftest import NOW
from tests.support.builders import DESK, file_cmd, reporter_actor, small_directory
from tests.unit.service.conftest import SETTINGS, Twin

DESK_ACTOR = Actor(id="desk", role=Role.NATIONAL_ADMIN)


def filed(lapor: LaporApp) -> str:
    tid = lapor.handle(parse_command(file_cmd())).tracking_id
    assert tid
    return tid


def test_a_stale_aggregate_is_refused_by_the_store(lapor: LaporApp) -> None:
    tid = filed(lapor)
    stale = lapor.complaint(tid)
    lapor.handle(
        parse_command({"command": "archive", "actor": DESK, "complaint": tid, "reason": "spam"})
    )
    stale.postpone(DESK_ACTOR, NOW, reason="need detail", remaining_days=2)
    with pytest.raises(IntegrityError):
        lapor.save(stale)
    assert lapor.complaint(tid).state == "ARCHIVED"


def test_two_applications_one_store_the_loser_decides_again(lapor: LaporApp) -> None:
    tid = filed(lapor)
    other = Twin(lapor)
    assert other.complaint(tid).version == 1  # cached at version 1 in the other app
    lapor.handle(
        parse_command(
            {"command": "postpone", "actor": DESK, "complaint": tid, "reason": "need the address"}
        )
    )
    # The other app decides on the fresh state (version 2), not on what it had cached.
    outcome = other.handle(
        parse_command({"command": "archive", "actor": DESK, "complaint": tid, "reason": "spam"})
    )
    assert outcome.version == 3 and outcome.state == "ARCHIVED"
    assert [type(e).__name__ for e in lapor.history(lapor.complaint(tid).id)] == [
        "Filed",
        "Postponed",
        "Archived",
    ]


def test_a_client_naming_an_old_version_gets_a_conflict(lapor: LaporApp) -> None:
    tid = filed(lapor)
    other = Twin(lapor)
    lapor.handle(
        parse_command(
            {"command": "postpone", "actor": DESK, "complaint": tid, "reason": "need the address"}
        )
    )
    archive = {"command": "archive", "actor": DESK, "complaint": tid, "reason": "spam"}
    with pytest.raises(Conflict) as conflict:
        other.handle(parse_command(archive | {"expected_version": 1}))
    assert conflict.value.details == {"current_version": 2, "expected_version": 1}
    assert lapor.complaint(tid).state == "POSTPONED"


def test_concurrent_writers_issue_tracking_numbers_from_their_own_blocks(
    lapor: LaporApp,
) -> None:
    """Two writers never save the same aggregate to number a filing (lapor_es.tracking):
    each issues, in order, from the block it reserved; no number is issued twice."""
    other = Twin(lapor)
    size = lapor.settings.tracking_block_size
    numbers = [
        app.handle(
            parse_command(file_cmd(reporter={"name": f"Warga {i}", "phone": f"0813{i:08d}"}))
        ).tracking_id
        for i, app in enumerate([lapor, other, lapor, other])
    ]
    assert numbers == [
        "LAP-2026-0000001",
        f"LAP-2026-{size + 1:07d}",
        "LAP-2026-0000002",
        f"LAP-2026-{size + 2:07d}",
    ]


# ------------------------------------------------- "now" under retries (issue 10, item 11)
class TickingClock:
    """A shared wall clock that moves a millisecond at each reading, as a real one would
    between two writers' readings."""

    def __init__(self) -> None:
        self._ticks = itertools.count()
        self._lock = threading.Lock()

    def __call__(self) -> datetime:
        with self._lock:
            return NOW + timedelta(milliseconds=next(self._ticks))


def at_the_agency(lapor: LaporApp) -> tuple[str, str]:
    """A complaint forwarded to KEMENKES (the reporter may comment on it): (tracking id,
    reporter_ref)."""
    filing = lapor.handle(parse_command(file_cmd()))
    assert filing.tracking_id and filing.reporter_ref
    lapor.handle(
        parse_command(
            {
                "command": "verify",
                "actor": DESK,
                "complaint": filing.tracking_id,
                "title": "Air tidak mengalir",
                "category": "Air Bersih",
                "kind": "complaint",
                "visibility": "public",
                "to_agency": "KEMENKES",
            }
        )
    )
    return filing.tracking_id, filing.reporter_ref


def comment(tid: str, reporter_ref: str, text: str, **extra: Any) -> Command:
    return parse_command(
        {
            "command": "reply",
            "actor": reporter_actor(reporter_ref),
            "complaint": tid,
            "kind": "comment",
            "text": text,
        }
        | extra
    )


def test_a_command_without_at_that_loses_a_race_is_decided_again_at_a_new_now(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lapor = in_memory_app(SETTINGS, clock=TickingClock())
    small_directory(lapor)
    tid, ref = at_the_agency(lapor)
    other = Twin(lapor)
    save = lapor.save
    raced: list[Outcome] = []

    def lose_the_first_race(*objs: Any, **kwargs: Any) -> Any:
        if not raced:  # the other writer saves between our read (and our now) and our save
            raced.append(other.handle(comment(tid, ref, "dari penulis lain")))
        return save(*objs, **kwargs)

    monkeypatch.setattr(lapor, "save", lose_the_first_race)
    outcome = lapor.handle(comment(tid, ref, "dari penulis pertama"))
    assert raced and raced[0].version is not None  # the other writer won the race
    assert outcome.version == raced[0].version + 1  # and we were decided again after it
    history = lapor.history(lapor.complaint(tid).id)
    assert [e.at for e in history] == sorted(e.at for e in history)
    lapor.close()


def test_an_explicit_at_is_kept_and_refused_when_it_is_before_the_winners(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lapor = in_memory_app(SETTINGS, clock=TickingClock())
    small_directory(lapor)
    tid, ref = at_the_agency(lapor)
    other = Twin(lapor)
    save = lapor.save
    raced: list[Outcome] = []

    def lose_the_first_race(*objs: Any, **kwargs: Any) -> Any:
        if not raced:
            raced.append(other.handle(comment(tid, ref, "dari penulis lain")))
        return save(*objs, **kwargs)

    monkeypatch.setattr(lapor, "save", lose_the_first_race)
    with pytest.raises(RuleViolation):  # the client's own time is never moved
        lapor.handle(comment(tid, ref, "dari penulis pertama", at=NOW.isoformat()))


def test_concurrent_writers_without_at_are_never_refused() -> None:
    lapor = in_memory_app(SETTINGS, clock=TickingClock())
    small_directory(lapor)
    tid, ref = at_the_agency(lapor)
    before = lapor.complaint(tid).version
    writers = [lapor, *(Twin(lapor) for _ in range(3))]
    per_writer = 25
    refusals: list[Exception] = []
    start = threading.Barrier(len(writers))

    def write(app: LaporApp, n: int) -> None:
        start.wait(timeout=60)
        for i in range(per_writer):
            try:
                app.handle(comment(tid, ref, f"komentar {n}-{i}"))
            except Exception as exc:  # every refusal is counted; none is expected
                refusals.append(exc)

    switch = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, so writers interleave and race
    try:
        threads = [threading.Thread(target=write, args=(app, n)) for n, app in enumerate(writers)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
            assert not thread.is_alive(), "a writer did not finish within 120 s"
    finally:
        sys.setswitchinterval(switch)
    assert refusals == []
    assert lapor.complaint(tid).version == before + len(writers) * per_writer
    lapor.close()
