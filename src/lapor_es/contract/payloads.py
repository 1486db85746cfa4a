"""The published language: one JSON payload model per complaint event type.

A payload is the stored event minus the reporter's personal data (see
aggregates/chain.py), in canonical JSON form: UTC timestamps as
"YYYY-MM-DDTHH:MM:SS.ffffffZ", ids as strings. The hash chain is computed over exactly
these payloads, so any consumer can verify it from the topic alone.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from lapor_es.aggregates import Complaint
from lapor_es.aggregates.chain import canonical_payload
from lapor_es.aggregates.complaint import hashed_fields

Hash = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$", description="SHA-256, hex")]
Role = Literal["reporter", "national_admin", "agency_admin", "system"]
Clock = Literal["verification", "follow_up", "auto_resolve"]


class EventPayload(BaseModel):
    """Fields every complaint event carries."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    complaint_id: str = Field(description="UUID of the complaint; also the Kafka record key")
    tracking_id: str = Field(description="the citizen-facing id, e.g. LAP-2026-0000123")
    version: int = Field(ge=1, description="position of the event in its complaint's history")
    at: datetime = Field(description="when it happened (business time, UTC)")
    role: Role
    actor_id: str | None = Field(description="who acted; null when the reporter acted")
    actor_agency: str | None = Field(description="agency code an agency admin acted for")
    prev_hash: Hash = Field(description="event_hash of the previous event; zeros for the first")
    private_digest: Hash | None = Field(
        None,
        description="salted SHA-256 of what the event stores but never publishes (the sealed "
        "identity, the reporter's pseudonym); null when there is none. Covered by event_hash, "
        "so the store cannot be rewritten where the topic does not show it. Absent from "
        "records published before it existed (their event_hash does not cover it)",
    )
    event_hash: Hash = Field(description="SHA-256 of this payload's canonical JSON without it")


class Filed(EventPayload):
    type: Literal["Filed"]
    kind: Literal["complaint", "aspiration", "information_request"]
    channel: Literal["web", "sms-1708", "android", "ios", "social", "api"]
    title: str
    description: str
    category: str | None
    location: str | None
    visibility: Literal["public", "anonymous", "confidential"]
    target_agency: str | None
    verification_due_at: datetime


class Postponed(EventPayload):
    type: Literal["Postponed"]
    reason: str
    remaining_days: int = Field(ge=0, description="working days left on the paused clock")


class InformationSupplemented(EventPayload):
    type: Literal["InformationSupplemented"]
    text: str
    verification_due_at: datetime


class Archived(EventPayload):
    type: Literal["Archived"]
    reason: Literal[
        "wrong_format",
        "too_general",
        "not_government",
        "no_supplement",
        "spam",
        "duplicate",
        "other",
    ]
    note: str


class Verified(EventPayload):
    type: Literal["Verified"]
    title: str
    category: str
    kind: Literal["complaint", "aspiration", "information_request"]
    visibility: Literal["public", "anonymous", "confidential"]
    chosen_agency: str | None = Field(
        None,
        description="the agency the reporter chose at filing, the default target; absent when "
        "the reporter chose none (and before v2)",
    )
    override_reason: str | None = Field(
        None,
        description="why the desk sent it elsewhere than the chosen agency (the Forwarded that "
        "follows names the target); absent when the choice was kept or there was none",
    )


class Forwarded(EventPayload):
    type: Literal["Forwarded"]
    from_agency: str | None = Field(description="null when the national desk forwarded")
    to_agency: str
    level: Literal["agency", "unit"]
    note: str
    follow_up_due_at: datetime
    work_continues: bool | None = Field(
        None,
        description="true when an agency passed a complaint it was already working on down to "
        "its own unit: the complaint stays IN_PROGRESS; absent otherwise (and before v2)",
    )


class ForwardingDeclined(EventPayload):
    type: Literal["ForwardingDeclined"]
    agency: str
    reason: str
    suggested_agency: str | None
    returned_to: str | None = Field(description="the agency it went back to; null: the desk")
    verification_due_at: datetime | None


class WorkStarted(EventPayload):
    type: Literal["WorkStarted"]
    agency: str


class Responded(EventPayload):
    type: Literal["Responded"]
    agency: str
    kind: Literal["interim", "final"]
    text: str
    follow_up_due_at: datetime | None = Field(description="interim: the next follow-up is due")
    auto_resolve_due_at: datetime | None = Field(description="final: the reply window ends")


class ReporterReplied(EventPayload):
    type: Literal["ReporterReplied"]
    kind: Literal["comment", "dispute", "confirm"]
    text: str
    follow_up_due_at: datetime | None = Field(description="dispute: the agency's new deadline")
    auto_resolve_due_at: datetime | None = Field(
        description="comment during the reply window: the window restarts"
    )


class Resolved(EventPayload):
    type: Literal["Resolved"]
    mode: Literal["confirmed_by_reporter", "auto_closed", "by_admin"]
    note: str


class Reopened(EventPayload):
    type: Literal["Reopened"]
    reason: str
    follow_up_due_at: datetime


class Merged(EventPayload):
    type: Literal["Merged"]
    into_id: str
    into_tracking_id: str


class DuplicateMerged(EventPayload):
    """On the original: the duplicate's own Merged is recorded in the same transaction."""

    type: Literal["DuplicateMerged"]
    duplicate_id: str
    duplicate_tracking_id: str


class SlaWarned(EventPayload):
    type: Literal["SlaWarned"]
    clock: Clock
    due_at: datetime


class SlaBreached(EventPayload):
    type: Literal["SlaBreached"]
    clock: Clock
    due_at: datetime


class Escalated(EventPayload):
    type: Literal["Escalated"]
    level: Literal["parent", "national"]
    to_agency: str
    clock: Clock
    due_at: datetime


class VisibilityChanged(EventPayload):
    type: Literal["VisibilityChanged"]
    old: Literal["public", "anonymous", "confidential"]
    new: Literal["public", "anonymous", "confidential"]
    reason: str


class ReporterErased(EventPayload):
    type: Literal["ReporterErased"]
    reason: str


PAYLOAD_MODELS: dict[str, type[EventPayload]] = {
    model.__name__: model
    for model in (
        Filed,
        Postponed,
        InformationSupplemented,
        Archived,
        Verified,
        Forwarded,
        ForwardingDeclined,
        WorkStarted,
        Responded,
        ReporterReplied,
        Resolved,
        Reopened,
        Merged,
        DuplicateMerged,
        SlaWarned,
        SlaBreached,
        Escalated,
        VisibilityChanged,
        ReporterErased,
    )
}

AnyPayload = Annotated[
    Filed
    | Postponed
    | InformationSupplemented
    | Archived
    | Verified
    | Forwarded
    | ForwardingDeclined
    | WorkStarted
    | Responded
    | ReporterReplied
    | Resolved
    | Reopened
    | Merged
    | DuplicateMerged
    | SlaWarned
    | SlaBreached
    | Escalated
    | VisibilityChanged
    | ReporterErased,
    Field(discriminator="type"),
]
PAYLOAD_ADAPTER: TypeAdapter[AnyPayload] = TypeAdapter(AnyPayload)


def public_payload(event: Complaint.Event) -> dict[str, Any]:
    """The canonical public payload of a stored complaint event (what goes on the topic)."""
    payload = canonical_payload(
        type(event).__name__,
        event.originator_id,
        event.originator_version,
        hashed_fields(type(event), vars(event)),
    )
    payload["event_hash"] = event.event_hash
    return payload


def encode_payload(payload: dict[str, Any]) -> bytes:
    """The record value: compact JSON, keys sorted, UTF-8. orjson writes the same bytes as
    json.dumps(sort_keys, compact separators, ensure_ascii=False) for what payloads hold
    (str keys; str, int, bool, None, lists and objects; tests/unit/contract) in a fraction
    of the time (the relay encodes every event); json.dumps stays for what orjson refuses
    (an int beyond 64 bits)."""
    try:
        return orjson.dumps(payload, option=orjson.OPT_SORT_KEYS)
    except TypeError:
        return json.dumps(
            payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()


def decode_payload(data: bytes | str) -> AnyPayload:
    """Parse and validate a payload from the topic into its typed model."""
    return PAYLOAD_ADAPTER.validate_json(data)
