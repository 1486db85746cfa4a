"""Optimistic concurrency on the in-memory store: a stale aggregate is never stored, and a
command that loses a race to another application is decided again on the fresh state."""

from __future__ import annotations

import pytest
from eventsourcing.persistence import IntegrityError

from lapor_es.aggregates import Actor, Role
from lapor_es.application import Conflict, LaporApp
from lapor_es.commands import parse_command
from tests.conftest import NOW
from tests.support.builders import DESK, file_cmd
from tests.unit.service.conftest import Twin

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


def test_concurrent_filings_get_consecutive_tracking_numbers(lapor: LaporApp) -> None:
    other = Twin(lapor)
    numbers = [
        app.handle(
            parse_command(file_cmd(reporter={"name": f"Warga {i}", "phone": f"0813{i:08d}"}))
        ).tracking_id
        for i, app in enumerate([lapor, other, lapor, other])
    ]
    assert numbers == [f"LAP-2026-000000{i}" for i in range(1, 5)]
