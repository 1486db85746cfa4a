"""The event hash commits to the private part of an event (issue 10 item 16, case d).

The stored fields that are never published (sealed identity, pseudonym, a reporter's actor
id) enter the hash through `private_digest`, salted so a published digest cannot be
confirmed by guessing a pseudonym.
"""

from __future__ import annotations

import copy
import hashlib
import json
from datetime import timedelta
from typing import Any

from lapor_es.aggregates import Actor, Complaint, Role
from lapor_es.aggregates.chain import payload_hash, private_digest
from lapor_es.contract.payloads import public_payload
from tests.support.builders import FILED_AT, collected_events, filed_complaint

REF = "rep-" + "b" * 32
REPORTER = Actor(REF, Role.REPORTER)


def recomputed(fields: dict[str, Any], event: Complaint.Event) -> str:
    """The hash an auditor recomputes from the stored fields of `event` (with `fields` changed)."""
    changed = copy.copy(event)
    changed.__dict__.update(fields)  # as a rewritten row decodes: frozen only in Python
    return payload_hash(public_payload(changed))


def test_rewriting_any_private_field_changes_the_recomputed_hash() -> None:
    complaint = filed_complaint(1, actor=REPORTER, reporter_ref=REF, sealed_identity="v1:k:ONE")
    (filed,) = collected_events(complaint)
    assert recomputed({}, filed) == filed.event_hash

    for field, value in [
        ("reporter_ref", "rep-" + "c" * 32),
        ("sealed_identity", "v1:k:ANOTHER"),
        ("private_salt", "0" * 32),
    ]:
        assert recomputed({field: value}, filed) != filed.event_hash, field


def test_a_reporters_actor_id_is_committed_to_on_every_event_they_record() -> None:
    complaint = filed_complaint(1, actor=REPORTER, reporter_ref=REF, sealed_identity="v1:k:ONE")
    collected_events(complaint)
    at = FILED_AT + timedelta(hours=1)
    complaint.postpone(Actor("desk", Role.NATIONAL_ADMIN), at, reason="NIK?", remaining_days=2)
    complaint.supplement(
        REPORTER, at, text="NIK terlampir", verification_due_at=at + timedelta(days=3)
    )
    postponed, supplemented = collected_events(complaint)

    assert public_payload(postponed)["private_digest"] is None  # nothing private in it
    assert postponed.private_salt is None
    payload = public_payload(supplemented)
    assert payload["actor_id"] is None and payload["private_digest"] is not None
    assert recomputed({"actor_id": "rep-" + "d" * 32}, supplemented) != supplemented.event_hash


def test_the_digest_is_salted_so_knowing_the_pseudonym_confirms_nothing() -> None:
    a = filed_complaint(1, actor=REPORTER, reporter_ref=REF, sealed_identity="v1:k:SAME")
    b = filed_complaint(1, actor=REPORTER, reporter_ref=REF, sealed_identity="v1:k:SAME")
    (first,), (second,) = collected_events(a), collected_events(b)

    assert first.private_salt != second.private_salt
    assert public_payload(first)["private_digest"] != public_payload(second)["private_digest"]
    # An unsalted guess of the private part does not reproduce the published digest.
    guess = {"private": {"reporter_ref": REF, "sealed_identity": "v1:k:SAME"}, "salt": None}
    text = json.dumps(guess, sort_keys=True, separators=(",", ":"))
    assert hashlib.sha256(text.encode()).hexdigest() != public_payload(first)["private_digest"]


def test_an_event_without_a_private_part_has_no_digest_unless_a_salt_was_planted() -> None:
    assert private_digest({"role": "national_admin", "actor_id": "desk"}) is None
    planted = {"role": "national_admin", "actor_id": "desk", "private_salt": "ab" * 16}
    assert private_digest(planted) is not None
