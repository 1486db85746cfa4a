"""The published language on Kafka: payload models, CloudEvents envelope, JSON Schemas."""

from lapor_es.contract.cloudevents import (
    TOPIC,
    Delivered,
    Record,
    ce_type,
    event_type_of,
    from_record,
    to_record,
)
from lapor_es.contract.payloads import (
    PAYLOAD_MODELS,
    EventPayload,
    decode_payload,
    encode_payload,
    public_payload,
)

__all__ = [
    "PAYLOAD_MODELS",
    "TOPIC",
    "Delivered",
    "EventPayload",
    "Record",
    "ce_type",
    "decode_payload",
    "encode_payload",
    "event_type_of",
    "from_record",
    "public_payload",
    "to_record",
]
