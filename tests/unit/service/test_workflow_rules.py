"""Issue 10, items 1-9 ("Workflow and statistics"), through the command handlers on the
in-memory store: what the desk, agencies and reporters may now do, and what is recorded."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from eventsourcing.persistence import StoredEvent

from lapor_es.aggregates import Complaint
from lapor_es.aggregates.chain import payload_hash
from lapor_es.application import LaporApp
from lapor_es.bootstrap import in_memory_app
from lapor_es.contract.payloads import public_payload
from tests.conftest import NOW
from tests.support.builders import (
    DESK,
    Driver,
    agency_actor,
    file_cmd,
    refusal,
    small_directory,
)
from tests.unit.service.conftest import SETTINGS

START = NOW - timedelta(days=60)


def filed(lapor: LaporApp, **overrides: Any) -> tuple[Driver, str]:
    run = Driver(lapor, START)
    out = run(**file_cmd(**overrides))
    assert out.tracking_id
    return run, out.tracking_id


def verify(tid: str, **overrides: Any) -> dict[str, Any]:
    return {
        "command": "verify",
        "actor": DESK,
        "complaint": tid,
        "title": "Air tidak mengalir",
        "category": "Air Bersih",
        "kind": "complaint",
        "visibility": "public",
        "to_agency": "KEMENKES",
    } | overrides


# ----------------------------------------------------------------- item 1
def test_verify_that_lowers_anonymity_needs_a_visibility_reason(lapor: LaporApp) -> None:
    run, tid = filed(lapor, visibility="anonymous")
    error = refusal(run, verify(tid))
    assert error.code == "rule_violation" and error.details["field"] == "visibility_reason"
    assert lapor.complaint(tid).visibility == "anonymous"
    run(**verify(tid, visibility_reason="Pelapor setuju identitasnya ditampilkan"))
    history = [type(e).__name__ for e in lapor.history(lapor.complaint(tid).id)]
    assert history == ["Filed", "VisibilityChanged", "Verified", "Forwarded"]
    assert lapor.complaint(tid).visibility == "public"


# ----------------------------------------------------------------- item 2
def test_unit_forward_after_work_started_keeps_the_complaint_in_progress(
    lapor: LaporApp,
) -> None:
    run, tid = filed(lapor)
    run(**verify(tid))
    run(command="start", actor=agency_actor("KEMENKES"), complaint=tid)
    out = run(
        command="forward",
        actor=agency_actor("KEMENKES"),
        complaint=tid,
        to_agency="KEMENKES.ITJEN",
    )
    assert out.state == "IN_PROGRESS"


def reloaded_as_v1(lapor: LaporApp, event: Complaint.Event, *dropped: str) -> Any:
    """`event` as the previous release stored it: class version 1, without `dropped`."""
    stored = lapor.mapper.to_stored_event(event)
    state = json.loads(stored.state)
    assert state.pop("class_version") >= 2
    for name in dropped:
        del state[name]
    v1 = StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=json.dumps(state).encode(),
    )
    return lapor.mapper.to_domain_event(v1)


def test_a_v1_forwarded_event_is_upcast_and_keeps_its_hash(lapor: LaporApp) -> None:
    run, tid = filed(lapor)
    run(**verify(tid))
    event = lapor.history(lapor.complaint(tid).id)[-1]
    assert isinstance(event, Complaint.Forwarded)
    loaded = reloaded_as_v1(lapor, event, "work_continues")
    assert isinstance(loaded, Complaint.Forwarded) and loaded.work_continues is None
    assert payload_hash(public_payload(loaded)) == event.event_hash


# ----------------------------------------------------------------- item 3
def started(lapor: LaporApp) -> tuple[Driver, str]:
    run, tid = filed(lapor)
    run(**verify(tid))
    return run, tid


def test_the_desk_resolving_by_admin_must_give_a_reason(lapor: LaporApp) -> None:
    run, tid = started(lapor)
    resolve = {"command": "resolve", "actor": DESK, "complaint": tid, "mode": "by_admin"}
    for note in ({}, {"note": "ok"}):
        error = refusal(run, resolve | note)
        assert error.code == "rule_violation" and error.details["field"] == "note"
    assert lapor.complaint(tid).state == "FORWARDED"
    out = run(**resolve, note="Diselesaikan oleh admin: pelapor sudah dihubungi langsung")
    assert out.state == "RESOLVED"


def test_a_final_response_of_x_is_refused(lapor: LaporApp) -> None:
    run, tid = started(lapor)
    respond = {"command": "respond", "actor": agency_actor("KEMENKES"), "complaint": tid}
    error = refusal(run, respond | {"kind": "final", "text": "x"})
    assert error.code == "rule_violation" and error.details["field"] == "text"
    assert run(**respond, kind="interim", text="Sedang dicek").state == "IN_PROGRESS"
    assert run(**respond, kind="final", text="Pipa sudah diperbaiki kemarin").state == "RESPONDED"


def test_the_minimum_answer_is_a_setting() -> None:
    settings = SETTINGS.model_copy(update={"answer_min_chars": 40})
    strict = in_memory_app(settings, clock=lambda: NOW)
    small_directory(strict)
    try:
        run, tid = started(strict)
        respond = {"command": "respond", "actor": agency_actor("KEMENKES"), "complaint": tid}
        error = refusal(run, respond | {"kind": "final", "text": "Pipa sudah diperbaiki kemarin"})
        assert error.details["min_length"] == 40
    finally:
        strict.close()
