"""The published payloads: complete, private-data-free, chained, and schema-described."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lapor_es.aggregates import (
    Actor,
    AgencyKind,
    AgencyRef,
    Complaint,
    ReplyKind,
    ResponseKind,
    Role,
)
from lapor_es.aggregates.chain import GENESIS, PRIVATE_FIELDS, STORE_FIELDS
from lapor_es.aggregates.complaint import complaint_event_classes
from lapor_es.contract import PAYLOAD_MODELS, decode_payload, from_record, public_payload, to_record
from lapor_es.contract.cloudevents import ce_type, event_type_of
from lapor_es.contract.integrity import verify_history
from lapor_es.contract.payloads import ReporterReplied, Responded
from lapor_es.contract.schemas import stale_schemas
from tests.support.builders import collected_events, filed_complaint

T0 = datetime(2026, 3, 2, 2, tzinfo=UTC)
DESK = Actor("desk", Role.NATIONAL_ADMIN)
REF = "rep-" + "a" * 32
REPORTER = Actor(REF, Role.REPORTER)
KEMENKES = AgencyRef("KEMENKES", "LAPOR", AgencyKind.MINISTRY)
UNIT = AgencyRef("KEMENKES.ITJEN", "KEMENKES", AgencyKind.UNIT)


def lifecycle() -> list[Complaint.Event]:
    c = filed_complaint(
        1,
        actor=REPORTER,
        at=T0,
        reporter_ref=REF,
        sealed_identity="v1:k:SECRET",
        visibility="anonymous",
    )
    t = T0 + timedelta(hours=1)
    c.verify(
        DESK,
        t,
        title="Puskesmas",
        category="Kesehatan",
        kind="complaint",
        visibility="anonymous",
        target=KEMENKES,
        note="",
        follow_up_due_at=t,
    )
    agency = Actor("s", Role.AGENCY_ADMIN, "KEMENKES")
    c.forward(agency, t, target=UNIT, note="", follow_up_due_at=t + timedelta(days=7))
    c.respond(
        Actor("u", Role.AGENCY_ADMIN, "KEMENKES.ITJEN"),
        t,
        kind=ResponseKind.FINAL,
        text="jawaban akhir yang lengkap",
        follow_up_due_at=t + timedelta(days=5),
        auto_resolve_due_at=t + timedelta(days=14),
    )
    c.reply(
        REPORTER,
        t,
        kind=ReplyKind.CONFIRM,
        text="Terima kasih",
        follow_up_due_at=t,
        auto_resolve_due_at=t,
    )
    return collected_events(c)


def clock_events() -> list[Complaint.Event]:
    """An interim response and a comment in the reply window: the new due-time fields."""
    c = filed_complaint(2, actor=REPORTER, at=T0, reporter_ref=REF, sealed_identity="v1:k:SECRET")
    t = T0 + timedelta(hours=1)
    c.verify(
        DESK,
        t,
        title="Puskesmas",
        category="Kesehatan",
        kind="complaint",
        visibility="public",
        target=KEMENKES,
        note="",
        follow_up_due_at=t + timedelta(days=5),
    )
    agency = Actor("s", Role.AGENCY_ADMIN, "KEMENKES")
    for kind in (ResponseKind.INTERIM, ResponseKind.FINAL):
        t += timedelta(days=1)
        c.respond(
            agency,
            t,
            kind=kind,
            text=f"{kind}: jawaban yang lengkap",
            follow_up_due_at=t + timedelta(days=5),
            auto_resolve_due_at=t + timedelta(days=14),
        )
    t += timedelta(days=1)
    c.reply(
        REPORTER,
        t,
        kind=ReplyKind.COMMENT,
        text="Masih tutup hari Sabtu",
        follow_up_due_at=t + timedelta(days=5),
        auto_resolve_due_at=t + timedelta(days=14),
    )
    return collected_events(c)[3:]


@pytest.mark.parametrize("cls", complaint_event_classes(), ids=lambda c: c.__name__)
def test_payload_model_has_exactly_the_public_fields(cls: type[Complaint.Event]) -> None:
    fields = {f.name for f in dataclasses.fields(cls)}
    public = fields - PRIVATE_FIELDS - STORE_FIELDS | {
        "type",
        "complaint_id",
        "version",
        "event_hash",
        "private_digest",
    }
    assert set(PAYLOAD_MODELS[cls.__name__].model_fields) == public


def test_every_payload_validates_and_carries_no_personal_data() -> None:
    for event in lifecycle():
        payload = public_payload(event)
        model = decode_payload(to_record(event, position=1).value)
        assert model.type == type(event).__name__
        assert "sealed_identity" not in payload and "reporter_ref" not in payload
        assert REF not in str(payload) and "SECRET" not in str(payload)
        if payload["role"] == "reporter":
            assert payload["actor_id"] is None


def test_the_due_time_fields_are_published() -> None:
    interim, final, comment = clock_events()
    t = T0 + timedelta(hours=1)
    expected = [
        ("Responded", "interim", t + timedelta(days=6), None),
        ("Responded", "final", None, t + timedelta(days=16)),
        ("ReporterReplied", "comment", None, t + timedelta(days=17)),
    ]
    for event, (name, kind, follow_up, auto_resolve) in zip(
        [interim, final, comment], expected, strict=True
    ):
        model = decode_payload(to_record(event, position=1).value)
        assert isinstance(model, Responded | ReporterReplied)
        assert model.type == name and model.kind == kind
        assert model.follow_up_due_at == follow_up
        assert model.auto_resolve_due_at == auto_resolve
        payload = public_payload(event)
        assert {"follow_up_due_at", "auto_resolve_due_at"} <= set(payload)
    confirm = public_payload(lifecycle()[-2])
    assert confirm["type"] == "ReporterReplied" and confirm["kind"] == "confirm"
    assert (confirm["follow_up_due_at"], confirm["auto_resolve_due_at"]) == (None, None)


def test_chain_verifies_and_each_tampering_is_named() -> None:
    payloads = [public_payload(e) for e in lifecycle()]
    assert payloads[0]["prev_hash"] == GENESIS
    assert verify_history(payloads) == []

    modified = [dict(p) for p in payloads]
    modified[2]["note"] = "changed after the fact"
    assert [(d.version, d.kind) for d in verify_history(modified)] == [(3, "modified")]

    missing = payloads[:2] + payloads[3:]
    assert [(d.version, d.kind) for d in verify_history(missing)] == [(3, "missing")]

    reordered = [payloads[0], payloads[2], payloads[1], *payloads[3:]]
    kinds = {d.kind for d in verify_history(reordered)}
    assert "reordered" in kinds

    duplicated = [*payloads[:3], payloads[2], *payloads[3:]]
    assert [(d.version, d.kind) for d in verify_history(duplicated)] == [(3, "duplicated")]

    forged = dict(payloads[3], text="forged answer")
    from lapor_es.aggregates.chain import payload_hash

    forged["event_hash"] = payload_hash(forged)  # a forger who recomputes the hash ...
    result = verify_history([*payloads[:3], forged, *payloads[4:]])
    # ... still breaks the link from the next event.
    assert (5, "forged") in [(d.version, d.kind) for d in result]


def test_record_headers_follow_cloudevents_binary_mode() -> None:
    event = lifecycle()[2]
    record = to_record(event, position=42)
    headers = dict(record.headers)
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_type"] == b"id.go.lapor.complaint.forwarded.v1"
    assert headers["ce_id"] == f"{event.originator_id}:3".encode()
    assert headers["ce_subject"] == b"LAP-2026-0000001"
    assert headers["content-type"] == b"application/json"
    assert record.key == str(event.originator_id).encode()
    delivered = from_record(record.value, record.headers)
    assert delivered.position == 42 and delivered.version == 3


@pytest.mark.parametrize("name", sorted(PAYLOAD_MODELS))
def test_ce_type_round_trips(name: str) -> None:
    assert event_type_of(ce_type(name)) == name


def test_schemas_in_docs_are_fresh() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "schemas"
    assert stale_schemas(docs) == [], "run `lapor-es contract schemas` and commit docs/schemas"
