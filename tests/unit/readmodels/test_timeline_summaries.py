"""The tracking page's sentences: fixed phrases and codes, never free text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from lapor_es.contract.payloads import PAYLOAD_MODELS, AnyPayload
from lapor_es.readmodels.lifecycle import state_after
from lapor_es.readmodels.timeline_text import event_agency, summarize
from tests.support.builders import payload

AT = datetime(2026, 3, 2, 2, tzinfo=UTC)
DUE = datetime(2026, 3, 4, 17, tzinfo=UTC)  # end of Wed 4 Mar WIB
SECRET = "Budi 0812 rahasia"


def ev(type_: str, role: str = "national_admin", **fields: Any) -> AnyPayload:
    return payload(type_, version=2, at=AT, role=role, **fields)


CASES: list[tuple[AnyPayload, str, str | None]] = [
    (
        ev(
            "Forwarded",
            from_agency=None,
            to_agency="KEMENKES",
            level="agency",
            note=SECRET,
            follow_up_due_at=DUE,
        ),
        "Laporan diteruskan ke KEMENKES",
        "KEMENKES",
    ),
    (
        ev(
            "ForwardingDeclined",
            "agency_admin",
            agency="KEMENKES",
            reason=SECRET,
            suggested_agency=None,
            returned_to=None,
            verification_due_at=DUE,
        ),
        "KEMENKES menyatakan bukan wewenangnya; laporan dikembalikan ke admin nasional",
        "KEMENKES",
    ),
    (
        ev(
            "Responded",
            "agency_admin",
            agency="KEMENSOS",
            kind="interim",
            text=SECRET,
            follow_up_due_at=DUE,
            auto_resolve_due_at=None,
        ),
        "KEMENSOS memberikan tanggapan sementara",
        "KEMENSOS",
    ),
    (
        ev(
            "ReporterReplied",
            "reporter",
            kind="dispute",
            text=SECRET,
            follow_up_due_at=DUE,
            auto_resolve_due_at=None,
        ),
        "Pelapor menyanggah tanggapan; laporan kembali diproses",
        None,
    ),
    (
        ev("SlaWarned", "system", clock="follow_up", due_at=DUE),
        "Pengingat: batas waktu tindak lanjut berakhir 04-03-2026",
        None,
    ),
    (
        ev(
            "Escalated",
            "system",
            level="national",
            to_agency="LAPOR",
            clock="follow_up",
            due_at=DUE,
        ),
        "Laporan dieskalasi ke admin nasional",
        "LAPOR",
    ),
    (
        ev("Archived", reason="not_government", note=SECRET),
        "Laporan diarsipkan (tidak relevan dengan kinerja pemerintah)",
        None,
    ),
    (
        ev("Resolved", "system", mode="auto_closed", note=SECRET),
        "Laporan selesai: ditutup otomatis setelah batas waktu tanggapan pelapor",
        None,
    ),
]


@pytest.mark.parametrize(("payload", "sentence", "agency"), CASES)
def test_summary_and_agency(payload: AnyPayload, sentence: str, agency: str | None) -> None:
    assert summarize(payload) == sentence
    assert SECRET not in sentence
    assert event_agency(payload) == agency


# Minimal fields of every event type, free text set to SECRET wherever there is some.
EVERY_TYPE: dict[str, dict[str, Any]] = {
    "Filed": {
        "kind": "complaint",
        "channel": "sms-1708",
        "title": SECRET,
        "description": SECRET,
        "category": None,
        "location": SECRET,
        "visibility": "public",
        "target_agency": None,
        "verification_due_at": DUE,
    },
    "Postponed": {"reason": SECRET, "remaining_days": 2},
    "InformationSupplemented": {"text": SECRET, "verification_due_at": DUE},
    "Archived": {"reason": "spam", "note": SECRET},
    "Verified": {"title": SECRET, "category": "c", "kind": "complaint", "visibility": "public"},
    "Forwarded": CASES[0][0].model_dump(
        include={"from_agency", "to_agency", "level", "note", "follow_up_due_at"}
    ),
    "ForwardingDeclined": {
        "agency": "A.X",
        "reason": SECRET,
        "suggested_agency": None,
        "returned_to": "A",
        "verification_due_at": None,
    },
    "WorkStarted": {"agency": "A"},
    "Responded": {
        "agency": "A",
        "kind": "final",
        "text": SECRET,
        "follow_up_due_at": None,
        "auto_resolve_due_at": DUE,
    },
    "ReporterReplied": {
        "kind": "comment",
        "text": SECRET,
        "follow_up_due_at": None,
        "auto_resolve_due_at": None,
    },
    "Resolved": {"mode": "by_admin", "note": SECRET},
    "Reopened": {"reason": SECRET, "follow_up_due_at": DUE},
    "Merged": {
        "into_id": "536e1b2f-9fd9-5d6e-9047-be2047184e76",
        "into_tracking_id": "LAP-2026-0000002",
    },
    "DuplicateMerged": {
        "duplicate_id": "536e1b2f-9fd9-5d6e-9047-be2047184e76",
        "duplicate_tracking_id": "LAP-2026-0000003",
    },
    "SlaWarned": {"clock": "verification", "due_at": DUE},
    "SlaBreached": {"clock": "auto_resolve", "due_at": DUE},
    "Escalated": {"level": "parent", "to_agency": "A", "clock": "follow_up", "due_at": DUE},
    "VisibilityChanged": {"old": "public", "new": "anonymous", "reason": SECRET},
    "ReporterErased": {"reason": SECRET},
}


@pytest.mark.parametrize("type_", sorted(PAYLOAD_MODELS))
def test_every_event_type_has_a_sentence_without_free_text(type_: str) -> None:
    sentence = summarize(ev(type_, **EVERY_TYPE[type_]))
    assert sentence
    assert SECRET not in sentence


def test_sentences_for_the_rest() -> None:
    def said(type_: str) -> str:
        return summarize(ev(type_, **EVERY_TYPE[type_]))

    assert said("Filed") == "Laporan diterima melalui SMS 1708"
    assert said("Merged") == "Laporan digabungkan dengan LAP-2026-0000002"
    assert said("DuplicateMerged") == (
        "Laporan duplikat LAP-2026-0000003 digabungkan ke laporan ini"
    )
    assert said("SlaBreached") == "Batas waktu tanggapan pelapor terlewati (04-03-2026)"
    assert said("VisibilityChanged") == "Sifat laporan diubah menjadi anonim"
    assert said("Escalated") == "Laporan dieskalasi ke A"


def test_state_after_mirrors_the_state_machine() -> None:
    from lapor_es.aggregates.values import ComplaintState as S

    assert state_after(S.FORWARDED, CASES[1][0]) is S.SUBMITTED
    assert state_after(S.RESPONDED, CASES[3][0]) is S.IN_PROGRESS
    assert state_after(S.IN_PROGRESS, CASES[4][0]) is S.IN_PROGRESS  # timers change nothing
    with pytest.raises(ValueError):
        state_after(None, CASES[4][0])
