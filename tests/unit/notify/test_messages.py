"""What the reporter is told, and when a failed send is tried again."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from lapor_es.contract.payloads import AnyPayload
from lapor_es.notify.channels import scrub
from lapor_es.notify.messages import NOTIFYING, message_for
from lapor_es.notify.service import RetryPolicy
from tests.support.builders import payload

NAMES = {"KEMENKES": "Kementerian Kesehatan"}


def name(code: str) -> str:
    return NAMES.get(code, code)


def event(event_type: str, **fields: Any) -> AnyPayload:
    return payload(event_type, version=5, at="2026-03-09T03:00:00+00:00", **fields)


def test_a_final_response_quotes_the_answer_the_agency_and_the_reply_window_in_wib() -> None:
    message = message_for(
        event(
            "Responded",
            agency="KEMENKES",
            kind="final",
            text="Pipa sudah diperbaiki.",
            follow_up_due_at=None,
            auto_resolve_due_at="2026-03-16T10:00:00+00:00",
        ),
        name,
    )
    assert message is not None
    assert message.subject.startswith("Tanggapan akhir atas laporan LAP-")
    assert "Tanggapan Kementerian Kesehatan" in message.body
    assert "Pipa sudah diperbaiki." in message.body
    assert "16-03-2026 17:00 WIB" in message.body  # 10:00 UTC


@pytest.mark.parametrize(
    ("mode", "words"),
    [
        ("confirmed_by_reporter", "telah selesai"),
        ("auto_closed", "ditutup otomatis"),
        ("by_admin", "ditutup oleh admin"),
    ],
)
def test_each_closure_says_how_it_closed(mode: str, words: str) -> None:
    message = message_for(event("Resolved", mode=mode, note="x" * 20), name)
    assert message is not None and words in message.body


def test_escalation_names_the_agency_it_went_to() -> None:
    message = message_for(
        event(
            "Escalated",
            level="parent",
            to_agency="KEMENKES",
            clock="follow_up",
            due_at="2026-03-16T10:00:00+00:00",
        ),
        name,
    )
    assert message is not None and "Kementerian Kesehatan" in message.body


def test_events_that_do_not_concern_the_reporter_send_nothing() -> None:
    assert "Filed" not in NOTIFYING and "SlaWarned" not in NOTIFYING
    warned = event("SlaWarned", clock="follow_up", due_at="2026-03-16T10:00:00+00:00")
    assert message_for(warned, name) is None


def test_backoff_doubles_from_the_base_up_to_the_cap() -> None:
    policy = RetryPolicy(backoff_base_s=30, backoff_max_s=200)
    waits = [policy.backoff(n) for n in range(1, 6)]
    assert waits == [timedelta(seconds=s) for s in (30, 60, 120, 200, 200)]


def test_errors_are_scrubbed_of_the_address() -> None:
    error = "SMTPRecipientsRefused: {'dewi@example.id': (550, b'no such user')}"
    assert "dewi@example.id" not in scrub(error, "dewi@example.id")
    assert len(scrub("x" * 2000)) == 500
