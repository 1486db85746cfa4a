"""CloudEvents 1.0, Kafka protocol binding, binary content mode.

Attributes travel as `ce_`-prefixed headers, the payload is the record value, and the
record key is the complaint id so that one complaint's events stay in one partition, in
order. Extension attributes (lowercase alphanumerics, as the spec requires):
`complaintversion`, `position` (global position in the event store), `eventhash`,
`prevhash`. `dataschema` names the JSON Schema of the payload, shipped in the package
(`lapor_es.contract.schemas.resolve`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import orjson

from lapor_es.aggregates import Complaint
from lapor_es.contract.payloads import AnyPayload, decode_payload, encode_payload, public_payload

SPEC_VERSION = "1.0"
SOURCE = "/lapor-es/complaints"
TYPE_PREFIX = "id.go.lapor.complaint."
CONTENT_TYPE = "application/json"
TOPIC = "lapor.complaints.v1"
DATASCHEMA_PREFIX = "urn:lapor-es:schema:"

Headers = list[tuple[str, bytes]]


def snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def ce_type(event_type: str) -> str:
    """`Filed` -> `id.go.lapor.complaint.filed.v1`."""
    return f"{TYPE_PREFIX}{snake(event_type)}.v1"


def event_type_of(ce_type_value: str) -> str:
    """`id.go.lapor.complaint.work_started.v1` -> `WorkStarted`."""
    if not ce_type_value.startswith(TYPE_PREFIX) or not ce_type_value.endswith(".v1"):
        raise ValueError(f"not a lapor complaint event type: {ce_type_value!r}")
    middle = ce_type_value[len(TYPE_PREFIX) : -len(".v1")]
    return "".join(part.capitalize() for part in middle.split("_"))


def dataschema(ce_type_value: str) -> str:
    """`id.go.lapor.complaint.filed.v1` -> `urn:lapor-es:schema:id.go.lapor.complaint.filed.v1`.

    A URN, not a URL: it names the schema (the `$id` of the shipped JSON Schema) and resolves
    offline, through the installed package, to the schema of the installed release. A type's
    schema only ever gains optional fields, so the URN stays the same across releases."""
    return f"{DATASCHEMA_PREFIX}{ce_type_value}"


def ce_id(complaint_id: str, version: int) -> str:
    """Stable and unique per event: a re-published event carries the same id."""
    return f"{complaint_id}:{version}"


@dataclass(frozen=True)
class Record:
    key: bytes
    value: bytes
    headers: Headers


def to_record(event: Complaint.Event, position: int) -> Record:
    payload = public_payload(event)
    headers: Headers = [
        ("ce_specversion", SPEC_VERSION.encode()),
        ("ce_id", ce_id(payload["complaint_id"], payload["version"]).encode()),
        ("ce_source", SOURCE.encode()),
        ("ce_type", ce_type(payload["type"]).encode()),
        ("ce_dataschema", dataschema(ce_type(payload["type"])).encode()),
        ("ce_time", payload["at"].encode()),
        ("ce_subject", payload["tracking_id"].encode()),
        ("content-type", CONTENT_TYPE.encode()),
        ("ce_complaintversion", str(payload["version"]).encode()),
        ("ce_position", str(position).encode()),
        ("ce_eventhash", payload["event_hash"].encode()),
        ("ce_prevhash", payload["prev_hash"].encode()),
    ]
    return Record(
        key=payload["complaint_id"].encode(), value=encode_payload(payload), headers=headers
    )


@dataclass(frozen=True)
class Delivered:
    """One complaint event as read back from Kafka."""

    attributes: dict[str, str]
    payload: AnyPayload
    raw: dict[str, Any]

    @property
    def position(self) -> int:
        return int(self.attributes["position"])

    @property
    def complaint_id(self) -> str:
        return self.payload.complaint_id

    @property
    def version(self) -> int:
        return self.payload.version


def header_map(headers: Headers | None) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for name, value in headers or []:
        key = name[3:] if name.startswith("ce_") else name
        attributes[key] = value.decode("utf-8") if value is not None else ""
    return attributes


def from_record(value: bytes, headers: Headers | None) -> Delivered:
    """Decode and validate a record; raises ValueError on anything off-contract."""
    attributes = header_map(headers)
    if attributes.get("specversion") != SPEC_VERSION:
        raise ValueError(f"unsupported CloudEvents specversion {attributes.get('specversion')!r}")
    payload = decode_payload(value)
    if event_type_of(attributes.get("type", "")) != payload.type:
        raise ValueError("ce_type does not match the payload's type")
    # orjson: the same dict as json.loads, in a fraction of the time (the projector's
    # decode path reads every record; orjson.JSONDecodeError is a ValueError).
    return Delivered(attributes=attributes, payload=payload, raw=orjson.loads(value))
