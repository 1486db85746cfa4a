"""The ids bound around a decision: every log line of it names the complaint, its tracking
id and the staff principal, never a reporter's pseudonymous reference."""

from __future__ import annotations

from datetime import timedelta

import structlog
from structlog.testing import capture_logs

from lapor_es.application import LaporApp
from tests.conftest import NOW
from tests.support.builders import DESK, Driver, file_cmd, reporter_actor


def test_a_staff_decision_logs_the_complaint_tracking_id_and_principal(lapor: LaporApp) -> None:
    run = Driver(lapor, NOW - timedelta(days=5))
    filed = run(**file_cmd())
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        run(command="postpone", actor=DESK, complaint=filed.tracking_id, reason="need the address")
    (decided,) = [e for e in logs if e["event"] == "complaint.postpone"]
    assert decided["tracking_id"] == filed.tracking_id
    assert decided["complaint_id"]
    assert decided["principal"] == DESK["id"]


def test_a_reporter_decision_does_not_log_the_reporter_reference(lapor: LaporApp) -> None:
    run = Driver(lapor, NOW - timedelta(days=5))
    filed = run(**file_cmd())
    assert filed.reporter_ref
    run(command="postpone", actor=DESK, complaint=filed.tracking_id, reason="need the address")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        run(
            command="supplement",
            actor=reporter_actor(filed.reporter_ref),
            complaint=filed.tracking_id,
            text="Alamatnya Jalan Melati 5",
        )
    (decided,) = [e for e in logs if e["event"] == "complaint.supplement"]
    assert decided["tracking_id"] == filed.tracking_id
    assert decided["principal"] is None
    assert filed.reporter_ref not in repr(logs)
