"""What a projection consumes: one published complaint event and where it was read from.

The same `ProjectedEvent` comes out of the event store's notification log (in-process
mode) and out of Kafka records (projector mode), so read models are written once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from eventsourcing.persistence import Mapper, Notification

from lapor_es.aggregates import Complaint
from lapor_es.contract.cloudevents import from_record
from lapor_es.contract.payloads import PAYLOAD_ADAPTER, AnyPayload, public_payload

STORE_SOURCE = "store"


@dataclass(frozen=True)
class Coordinates:
    """Where an event was read: the store's log (partition 0, offset = global position)
    or a Kafka topic partition and offset. Tracking rows record these."""

    source: str
    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class ProjectedEvent:
    """One event for the projector. The payload's identifying fields are copied out once:
    the engine and every model read them for each event, several times (plain slots, not
    cached properties, which cost a Python call on every read)."""

    payload: AnyPayload
    raw: dict[str, Any]
    coordinates: Coordinates
    position: int  # global position in the event store (ce_position on Kafka)
    type: str = field(init=False)
    complaint_id: str = field(init=False)
    version: int = field(init=False)
    at: datetime = field(init=False)

    def __post_init__(self) -> None:
        payload, setter = self.payload, object.__setattr__
        setter(self, "type", payload.type)
        setter(self, "complaint_id", payload.complaint_id)
        setter(self, "version", payload.version)
        setter(self, "at", payload.at)


def from_notification(notification: Notification, mapper: Mapper[Any]) -> ProjectedEvent:
    event = mapper.to_domain_event(notification)
    if not isinstance(event, Complaint.Event):
        raise TypeError(f"not a complaint event: {notification.topic}")
    raw = public_payload(event)
    return ProjectedEvent(
        payload=PAYLOAD_ADAPTER.validate_python(raw),
        raw=raw,
        coordinates=Coordinates(STORE_SOURCE, 0, notification.id),
        position=notification.id,
    )


def from_kafka(
    topic: str, partition: int, offset: int, value: bytes, headers: list[tuple[str, bytes]]
) -> ProjectedEvent:
    delivered = from_record(value, headers)
    return ProjectedEvent(
        payload=delivered.payload,
        raw=delivered.raw,
        coordinates=Coordinates(topic, partition, offset),
        position=delivered.position,
    )
