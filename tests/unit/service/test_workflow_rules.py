"""Issue 10, items 1-9 ("Workflow and statistics"), through the command handlers on the
in-memory store: what the desk, agencies and reporters may now do, and what is recorded."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lapor_es.aggregates import DomainError
from lapor_es.application import LaporApp
from tests.conftest import NOW
from tests.support.builders import DESK, Driver, file_cmd

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


def refusal(run: Driver, command: dict[str, Any]) -> DomainError:
    with pytest.raises(DomainError) as refused:
        run(**command)
    return refused.value


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
