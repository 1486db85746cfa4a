"""Issue 10 items 6 and 7 through the command handlers, on the in-memory store.

6: the reporter's chosen agency is the default target of `verify`; the desk overrides it
only with a reason, and the Verified event records both.
7: `merge` closes the duplicate (Merged) and leaves a trace on the original
(DuplicateMerged) in one save, also after the duplicate was verified and forwarded.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from eventsourcing.persistence import StoredEvent

from lapor_es.aggregates import Complaint, DomainError
from lapor_es.aggregates.chain import payload_hash
from lapor_es.application import LaporApp
from lapor_es.commands import parse_command
from lapor_es.contract.payloads import public_payload
from tests.conftest import NOW
from tests.support.builders import (
    DESK,
    Driver,
    agency_actor,
    file_cmd,
    refusal,
    reporter_actor,
)

START = NOW - timedelta(days=60)
REASON = "Jalan provinsi: kewenangan pemerintah provinsi"


def verify(tid: str, **overrides: Any) -> dict[str, Any]:
    """A verification that names no agency: the reporter's choice is the target."""
    return {
        "command": "verify",
        "actor": DESK,
        "complaint": tid,
        "title": "Air tidak mengalir",
        "category": "Air Bersih",
        "kind": "complaint",
        "visibility": "public",
    } | overrides


def types(lapor: LaporApp, tid: str) -> list[str]:
    return [type(e).__name__ for e in lapor.history(lapor.complaint(tid).id)]


@pytest.fixture
def run(lapor: LaporApp) -> Driver:
    return Driver(lapor, START)


def file(run: Driver, **overrides: Any) -> str:
    out = run(**file_cmd(**overrides))
    assert out.tracking_id
    return out.tracking_id


# ----------------------------------------------------------------- item 6
def test_verify_without_an_agency_sends_it_to_the_chosen_one(lapor: LaporApp, run: Driver) -> None:
    tid = file(run, target_agency="KEMENSOS")
    out = run(**verify(tid))
    assert out.state == "FORWARDED"
    assert lapor.complaint(tid).holder_chain == ["KEMENSOS"]
    verified = lapor.history(lapor.complaint(tid).id)[-2]
    assert isinstance(verified, Complaint.Verified)
    assert (verified.chosen_agency, verified.override_reason) == ("KEMENSOS", None)


def test_an_override_needs_a_reason_and_is_recorded(lapor: LaporApp, run: Driver) -> None:
    tid = file(run, target_agency="KEMENSOS")
    error = refusal(run, verify(tid, to_agency="PROV-JABAR"))
    assert error.code == "rule_violation" and error.details["field"] == "override_reason"
    assert types(lapor, tid) == ["Filed"]
    run(**verify(tid, to_agency="PROV-JABAR", override_reason=REASON))
    verified = lapor.history(lapor.complaint(tid).id)[-2]
    assert isinstance(verified, Complaint.Verified)
    assert (verified.chosen_agency, verified.override_reason) == ("KEMENSOS", REASON)
    assert lapor.complaint(tid).holder_chain == ["PROV-JABAR"]


def test_no_choice_and_no_agency_is_refused_naming_to_agency(lapor: LaporApp, run: Driver) -> None:
    tid = file(run)
    error = refusal(run, verify(tid))
    assert error.code == "rule_violation" and error.details["field"] == "to_agency"
    assert run(**verify(tid, to_agency="KEMENKES")).state == "FORWARDED"


def test_an_unknown_agency_is_refused_before_anything_is_decided(
    lapor: LaporApp, run: Driver
) -> None:
    tid = file(run, target_agency="KEMENSOS")
    error = refusal(run, verify(tid, to_agency="NOPE", override_reason=REASON))
    assert error.code == "unknown_agency"
    assert types(lapor, tid) == ["Filed"]


def test_a_v1_verified_event_is_upcast_and_keeps_its_hash(lapor: LaporApp, run: Driver) -> None:
    tid = file(run)
    run(**verify(tid, to_agency="KEMENKES"))
    event = lapor.history(lapor.complaint(tid).id)[-2]
    assert isinstance(event, Complaint.Verified)
    stored = lapor.mapper.to_stored_event(event)
    state = json.loads(stored.state)
    assert state.pop("class_version") == 2
    del state["chosen_agency"], state["override_reason"]  # what v1 stored
    loaded = lapor.mapper.to_domain_event(
        StoredEvent(
            originator_id=stored.originator_id,
            originator_version=stored.originator_version,
            topic=stored.topic,
            state=json.dumps(state).encode(),
        )
    )
    assert isinstance(loaded, Complaint.Verified)
    assert (loaded.chosen_agency, loaded.override_reason) == (None, None)
    assert payload_hash(public_payload(loaded)) == event.event_hash


# ----------------------------------------------------------------- item 7
def merge(duplicate: str, original: str, **more: Any) -> dict[str, Any]:
    return {"command": "merge", "actor": DESK, "complaint": duplicate, "into": original} | more


def test_merging_leaves_a_trace_on_the_original_in_the_same_transaction(
    lapor: LaporApp, run: Driver
) -> None:
    original, duplicate = file(run), file(run)
    head = lapor.recorder.max_notification_id() or 0
    out = run(**merge(duplicate, original))
    assert out.state == "ARCHIVED" and out.tracking_id == duplicate
    assert types(lapor, duplicate)[-1] == "Merged"
    assert types(lapor, original) == ["Filed", "DuplicateMerged"]
    trace = lapor.history(lapor.complaint(original).id)[-1]
    assert isinstance(trace, Complaint.DuplicateMerged)
    assert trace.duplicate_tracking_id == duplicate
    assert trace.duplicate_id == lapor.complaint(duplicate).id
    assert trace.actor_id == DESK["id"]
    # One save: the two events are the store's next two notifications, nothing between.
    notes = lapor.recorder.select_notifications(head + 1, 10)
    assert [n.originator_id for n in notes] == [
        lapor.complaint(duplicate).id,
        lapor.complaint(original).id,
    ]


def test_a_verified_and_forwarded_complaint_can_be_merged(lapor: LaporApp, run: Driver) -> None:
    original, duplicate = file(run), file(run, target_agency="KEMENKES")
    run(**verify(original, to_agency="KEMENKES"))
    run(**verify(duplicate))
    run(command="start", actor=agency_actor("KEMENKES"), complaint=duplicate)
    out = run(**merge(duplicate, original))
    assert out.state == "ARCHIVED"
    gone = lapor.complaint(duplicate)
    assert gone.holder_chain == [] and gone.clock is None and gone.due_at is None
    assert gone.merged_into == original
    # The agency can no longer act on it.
    error = refusal(
        run,
        {
            "command": "respond",
            "actor": agency_actor("KEMENKES"),
            "complaint": duplicate,
            "kind": "interim",
            "text": "Sedang ditinjau oleh tim",
        },
    )
    assert error.code in ("not_authorized", "invalid_transition")


def test_a_closed_duplicate_or_an_archived_original_is_refused(
    lapor: LaporApp, run: Driver
) -> None:
    resolved, spam, duplicate, late = file(run), file(run), file(run), file(run)
    run(**verify(resolved, to_agency="KEMENKES"))
    run(
        command="resolve",
        actor=DESK,
        complaint=resolved,
        mode="by_admin",
        note="Sudah diselesaikan langsung oleh dinas terkait",
    )
    run(command="archive", actor=DESK, complaint=spam, reason="spam")
    error = refusal(run, merge(duplicate, spam))
    assert error.code == "rule_violation" and error.details["into"] == spam
    for closed in (resolved, spam):
        error = refusal(run, merge(closed, duplicate))
        assert error.code == "invalid_transition"
    error = refusal(run, merge(duplicate, duplicate))
    assert error.code == "rule_violation"
    assert types(lapor, duplicate) == ["Filed"]
    assert types(lapor, resolved)[-1] == "Resolved" and types(lapor, spam)[-1] == "Archived"
    # A resolved original takes a late duplicate: it carries the answer to the same problem.
    assert run(**merge(late, resolved)).state == "ARCHIVED"
    assert types(lapor, resolved)[-1] == "DuplicateMerged"
    assert lapor.complaint(resolved).state == "RESOLVED"
    # An original that was itself merged away is refused, naming its own original.
    error = refusal(run, merge(duplicate, late))
    assert error.code == "rule_violation" and resolved in error.message


def test_only_the_desk_merges(lapor: LaporApp, run: Driver) -> None:
    original, duplicate = file(run), file(run)
    ref = run(**file_cmd()).reporter_ref
    assert ref
    for actor in (agency_actor("KEMENKES"), reporter_actor(ref)):
        error = refusal(run, merge(duplicate, original, actor=actor))
        assert error.code == "not_authorized"
    assert types(lapor, original) == ["Filed"]


def test_expected_version_is_the_duplicates(lapor: LaporApp, run: Driver) -> None:
    original, duplicate = file(run), file(run)
    error = refusal(run, merge(duplicate, original, expected_version=2))
    assert error.code == "conflict"
    assert run(**merge(duplicate, original, expected_version=1)).version == 2


def test_a_batch_merges_both_or_neither(lapor: LaporApp, run: Driver) -> None:
    original, duplicate, other = file(run), file(run), file(run)
    at = (run.at + timedelta(hours=1)).isoformat()
    results = lapor.handle_many(
        [
            parse_command(merge(duplicate, original, at=at)),
            parse_command(merge(other, duplicate, at=at)),  # the duplicate is closed now
        ]
    )
    assert not isinstance(results[0], DomainError)
    assert isinstance(results[1], DomainError) and results[1].details["into"] == duplicate
    assert types(lapor, original) == ["Filed", "DuplicateMerged"]
    assert types(lapor, duplicate) == ["Filed", "Merged"]
    assert types(lapor, other) == ["Filed"]
