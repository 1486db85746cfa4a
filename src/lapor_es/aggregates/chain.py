"""Tamper evidence: each complaint event is hash-chained to the one before it.

An event's hash covers its canonical public payload, which includes the previous
event's hash. The public payload is the event minus the reporter's personal data, so an
auditor who sees only the published topic can recompute every hash (design.md section 6).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

GENESIS = "0" * 64

# Fields that never leave the event store: the sealed identity and the pseudonym that
# would link a reporter's complaints. A reporter's actor id is that same pseudonym.
PRIVATE_FIELDS = frozenset({"sealed_identity", "reporter_ref"})
# Envelope fields of the stored event that are not part of the fact itself.
STORE_FIELDS = frozenset(
    {"originator_id", "originator_version", "originator_topic", "timestamp", "event_hash"}
)


def canonical_value(value: Any) -> Any:
    """One JSON representation per value, whoever computes it."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
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


def canonical_payload(
    event_type: str, complaint_id: UUID | str, version: int, fields: Mapping[str, Any]
) -> dict[str, Any]:
    return {
        "type": event_type,
        "complaint_id": str(complaint_id),
        "version": version,
        **public_fields(fields),
    }


def payload_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a public payload (its own hash excluded)."""
    body = {k: v for k, v in payload.items() if k != "event_hash"}
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()
