"""handle_many (a Batch unit of work) and idempotent filing, on the in-memory store."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lapor_es.aggregates import DomainError, NotAuthorized
from lapor_es.application import Conflict, LaporApp
from lapor_es.commands import Command, Outcome, parse_command
from tests.conftest import NOW
from tests.support.builders import DESK, agency_actor, file_cmd
from tests.unit.service.conftest import Twin

AT = NOW - timedelta(days=10)


def cmd(**data: Any) -> Command:
    return parse_command({"at": AT.isoformat()} | data)


def verify(tid: str, **overrides: Any) -> Command:
    return cmd(
        **{
            "command": "verify",
            "actor": DESK,
            "complaint": tid,
            "title": "Air tidak mengalir",
            "category": "Air Bersih",
            "kind": "complaint",
            "visibility": "public",
            "to_agency": "KEMENKES",
        }
        | overrides
    )


def filing(n: int, **overrides: Any) -> Command:
    return cmd(**file_cmd(reporter={"name": f"Warga {n}", "phone": f"0813{n:08d}"}, **overrides))


def reserve_block(lapor: LaporApp) -> None:
    """Reserve this writer's block of tracking numbers and record the store's complaint
    namespace now: each is saved once, in a transaction of its own (lapor_es.tracking,
    aggregates.deployment), which the tests here do not count."""
    lapor.tracking.give_back(AT.year, lapor.tracking.take(AT.year))
    assert lapor.complaint_namespace is not None


class SaveCounter:
    """Counts the application's transactions (calls of eventsourcing's save)."""

    def __init__(self, lapor: LaporApp, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls = 0
        save = lapor.save

        def counted(*objs: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return save(*objs, **kwargs)

        monkeypatch.setattr(lapor, "save", counted)


def test_a_batch_gives_one_result_per_command_in_order_and_commits_once(
    lapor: LaporApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    reserve_block(lapor)
    saves = SaveCounter(lapor, monkeypatch)
    results = lapor.handle_many(
        [
            filing(1),
            verify("LAP-2026-0000001"),  # sees the filing staged just before it
            verify("LAP-2026-0000001"),  # refused: already forwarded
            filing(2),
            verify("LAP-2026-0000002", actor=agency_actor("KEMENKES")),  # refused: not the desk
        ]
    )
    assert saves.calls == 1
    assert [type(r).__name__ for r in results] == [
        "Outcome",
        "Outcome",
        "InvalidTransition",
        "Outcome",
        "NotAuthorized",
    ]
    first, verified, _, second, _ = results
    assert isinstance(first, Outcome) and isinstance(second, Outcome)
    assert (first.tracking_id, second.tracking_id) == ("LAP-2026-0000001", "LAP-2026-0000002")
    assert isinstance(verified, Outcome) and verified.state == "FORWARDED"
    # The refused commands changed nothing; the others are stored.
    assert lapor.complaint("LAP-2026-0000001").state == "FORWARDED"
    assert lapor.complaint("LAP-2026-0000002").state == "SUBMITTED"


def test_a_batch_sees_the_previous_batch_through_the_trusted_cache(lapor: LaporApp) -> None:
    lapor.handle_many([filing(1)])
    (outcome,) = lapor.handle_many([verify("LAP-2026-0000001")])
    assert isinstance(outcome, Outcome) and outcome.version == 3
    fresh = Twin(lapor)  # reads the store, not the cache
    assert fresh.complaint("LAP-2026-0000001").version == 3


def test_a_batch_that_loses_a_race_runs_again_one_by_one_on_fresh_state(
    lapor: LaporApp,
) -> None:
    (filed,) = lapor.handle_many([filing(1)])
    assert isinstance(filed, Outcome) and filed.tracking_id
    tid = filed.tracking_id
    other = Twin(lapor)
    raced = False

    def now_and_race() -> Any:
        # Called by the second command (it names no time), after the first staged its
        # decision: another writer archives the complaint before the batch commits.
        nonlocal raced
        if not raced:
            raced = True
            other.handle(cmd(command="archive", actor=DESK, complaint=tid, reason="spam"))
        return AT

    lapor.now = now_and_race
    results = lapor.handle_many(
        [
            verify(tid),
            parse_command(
                {"command": "postpone", "actor": DESK, "complaint": tid, "reason": "detail?"}
            ),
        ]
    )
    # Run again one by one on the archived complaint: both refused, nothing overwritten.
    assert raced
    assert [type(r).__name__ for r in results] == ["InvalidTransition", "InvalidTransition"]
    assert other.complaint(tid).state == "ARCHIVED"
    assert lapor.complaint(tid).state == "ARCHIVED"


def test_a_batch_that_fails_stores_nothing_and_forgets_its_keys(lapor: LaporApp) -> None:
    reserve_block(lapor)
    head = lapor.recorder.max_notification_id()
    with pytest.raises(KeyError):  # a command the table does not know: a bug, not a refusal
        lapor.handle_many([filing(1), _Unknown()])  # type: ignore[list-item]
    assert lapor.recorder.max_notification_id() == head
    assert not lapor.complaint_exists("LAP-2026-0000001")
    (again,) = lapor.handle_many([filing(1)])
    assert isinstance(again, Outcome) and again.tracking_id == "LAP-2026-0000001"
    identity = lapor.identity(lapor.complaint("LAP-2026-0000001"))
    assert identity is not None and identity.name == "Warga 1"


class _Unknown:
    command = "unknown"


# ---------------------------------------------------------------- idempotent filing
def test_a_retried_filing_returns_the_first_complaint(lapor: LaporApp) -> None:
    first = lapor.handle(filing(1, idempotency_key="retry-key-0001"))
    head = lapor.recorder.max_notification_id()
    again = lapor.handle(filing(1, idempotency_key="retry-key-0001"))
    assert first.duplicate is False and again.duplicate is True
    assert (again.complaint_id, again.tracking_id, again.reporter_ref) == (
        first.complaint_id,
        first.tracking_id,
        first.reporter_ref,
    )
    assert lapor.recorder.max_notification_id() == head  # nothing stored


def test_a_retry_in_the_same_batch_returns_the_staged_complaint(lapor: LaporApp) -> None:
    first, again = lapor.handle_many(
        [filing(1, idempotency_key="retry-key-0002"), filing(1, idempotency_key="retry-key-0002")]
    )
    assert isinstance(first, Outcome) and isinstance(again, Outcome)
    assert again.duplicate is True and again.tracking_id == first.tracking_id
    assert not lapor.complaint_exists("LAP-2026-0000002")


def test_who_files_is_checked_before_the_idempotency_key_is_looked_up(lapor: LaporApp) -> None:
    """Issue 10, item 12: an actor who may not file learns nothing from a replayed key."""
    lapor.handle(filing(1, idempotency_key="retry-key-0003"))
    agency = agency_actor("KEMENKES")
    with pytest.raises(NotAuthorized):
        lapor.handle(filing(1, idempotency_key="retry-key-0003", actor=agency))
    with pytest.raises(NotAuthorized):
        lapor.handle(filing(2, idempotency_key="retry-key-0004", actor=agency))
    (refused,) = lapor.handle_many([filing(1, idempotency_key="retry-key-0003", actor=agency)])
    assert isinstance(refused, NotAuthorized)


def test_a_reporter_replaying_another_reporters_key_gets_a_conflict_not_their_pseudonym(
    lapor: LaporApp,
) -> None:
    first = lapor.handle(filing(1, idempotency_key="retry-key-0005"))
    with pytest.raises(Conflict) as refused:
        lapor.handle(filing(2, idempotency_key="retry-key-0005"))
    assert first.reporter_ref and first.reporter_ref not in str(refused.value.message)
    desk = lapor.handle(filing(1, idempotency_key="retry-key-0005", actor=DESK))
    assert desk.duplicate is True and desk.tracking_id == first.tracking_id


def test_a_refused_filing_in_a_batch_is_returned_as_its_error(lapor: LaporApp) -> None:
    (refused,) = lapor.handle_many([filing(1, target_agency="NOPE")])
    assert isinstance(refused, DomainError) and refused.code == "unknown_agency"
