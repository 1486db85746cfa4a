"""Tamper evidence: each complaint (and agency) event is hash-chained to the one before it.

An event's hash covers its canonical public payload, which includes the previous
event's hash and `private_digest`, a salted SHA-256 of what the event stores but never
publishes (the sealed identity, the reporter's pseudonym, the salt itself). So an auditor
who sees only the published topic can recompute every hash, and one who holds the store
also sees any rewrite of the private part: it changes the digest, hence the hash
(design.md section 6). The salt is random per event, so nobody who knows a pseudonym can
confirm it against a published digest.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

GENESIS = "0" * 64

# Fields that never leave the event store: the sealed identity and the pseudonym that
# would link a reporter's complaints (a reporter's actor id is that same pseudonym), and
# the salt of the digest that commits to them.
PRIVATE_FIELDS = frozenset({"sealed_identity", "reporter_ref", "private_salt"})
SALT = "private_salt"
# The salt of an event stored before the private digest existed (the release of issue 9):
# its upcaster (complaint.stored_before_digest) sets this in place of a salt, and its hash
# was computed over a payload without `private_digest`, so none is put back in.
BEFORE_DIGEST = "stored-before-private-digest"
# Envelope fields of the stored event that are not part of the fact itself.
STORE_FIELDS = frozenset(
    {"originator_id", "originator_version", "originator_topic", "timestamp", "event_hash"}
)


_AS_IS = frozenset({str, int, float, bool, type(None)})


def canonical_value(value: Any) -> Any:
    """One JSON representation per value, whoever computes it."""
    # Every stored event, published record and audited record passes through here, field by
    # field: the exact plain types (most values) return first. Subclasses (StrEnum, IntEnum)
    # still take the isinstance path below.
    if type(value) in _AS_IS:
        return value
    if isinstance(value, datetime):
        utc = value.astimezone(UTC)
        if utc.year >= 1000:  # isoformat pads years below 1000, glibc's strftime does not
            return utc.isoformat(timespec="microseconds")[:26] + "Z"
        return utc.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): canonical_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [canonical_value(v) for v in value]
    if isinstance(value, str):
        return str(value)  # plain str, also for StrEnum members
    return value


def public_fields(fields: Mapping[str, Any]) -> dict[str, Any]:
    """The publishable part of an event's fields, in canonical form."""
    public = {
        k: canonical_value(v)
        for k, v in fields.items()
        if k not in PRIVATE_FIELDS and k not in STORE_FIELDS
    }
    if public.get("role") == "reporter":
        public["actor_id"] = None
    return public


def private_part(fields: Mapping[str, Any]) -> dict[str, Any]:
    """What an event stores that is never published, in canonical form."""
    private = {
        k: canonical_value(fields[k]) for k in sorted(PRIVATE_FIELDS - {SALT}) if k in fields
    }
    if canonical_value(fields.get("role")) == "reporter" and "actor_id" in fields:
        private["actor_id"] = canonical_value(fields["actor_id"])
    return private


def with_private_salt(fields: Mapping[str, Any]) -> dict[str, Any]:
    """`fields` plus a fresh random salt when they have a private part (else None)."""
    return {**fields, SALT: secrets.token_hex(16) if private_part(fields) else None}


def private_digest(fields: Mapping[str, Any]) -> str | None:
    """SHA-256 of the salted private part; None for an event with none (and no salt)."""
    private, salt = private_part(fields), fields.get(SALT)
    if not private and salt is None:
        return None
    body = {"salt": salt, "private": private}
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


def chained_payload(
    event_type: str,
    id_field: str,
    aggregate_id: UUID | str,
    version: int,
    fields: Mapping[str, Any],
) -> dict[str, Any]:
    """The hashed form of a chained event: public fields plus the digest of the private
    (none for an event stored before the digest existed, see BEFORE_DIGEST)."""
    payload = {
        "type": event_type,
        id_field: str(aggregate_id),
        "version": version,
        **public_fields(fields),
    }
    if fields.get(SALT) != BEFORE_DIGEST:
        payload["private_digest"] = private_digest(fields)
    return payload


def canonical_payload(
    event_type: str, complaint_id: UUID | str, version: int, fields: Mapping[str, Any]
) -> dict[str, Any]:
    return chained_payload(event_type, "complaint_id", complaint_id, version, fields)


def directory_payload(
    event_type: str, agency_id: UUID | str, version: int, fields: Mapping[str, Any]
) -> dict[str, Any]:
    """The hashed form of an agency directory event (never published, checked by audit)."""
    return chained_payload(event_type, "agency_id", agency_id, version, fields)


def payload_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a public payload (its own hash excluded)."""
    body = {k: v for k, v in payload.items() if k != "event_hash"}
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
