"""The AsyncAPI 3.0 document of every topic lapor-es writes, generated from the contract.

Nothing here is typed in by hand that the code also knows: topic names come from
contract/topics.py, payload schemas from the payload models (the same schemas that are
shipped in contract/schemas/), CloudEvents types and `dataschema` URNs from the envelope's
helpers, router and audit records from their models. docs/asyncapi.json and its Markdown
rendering docs/asyncapi.md are written by `lapor-es contract asyncapi`; tests fail when
either is stale, when the document does not validate against the official AsyncAPI 3.0.0
JSON Schema, and when a record the relay or the router builds does not match its message.

Shapes chosen for the widest tool support: payloads and headers are AsyncAPI Schema Objects
(a superset of JSON Schema draft-07): the models' 2020-12 schemas are inlined without their
`$schema`/`$id`, nested definitions moved to components/schemas and tuples written as
draft-07 `items` arrays. The shipped files stay the 2020-12 originals.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lapor_es.contract import topics
from lapor_es.contract.audit_records import CheckpointRecord
from lapor_es.contract.cloudevents import (
    CONTENT_TYPE,
    DATASCHEMA_PREFIX,
    SOURCE,
    SPEC_VERSION,
    ce_type,
    dataschema,
)
from lapor_es.contract.feeds import FEED_MODELS, FEED_SOURCE, feed_ce_type
from lapor_es.contract.payloads import PAYLOAD_MODELS
from lapor_es.contract.router_records import DEAD_LETTER_HEADERS, ComplaintRoute, RetryCommand
from lapor_es.contract.schemas import schema_documents

ASYNCAPI_VERSION = "3.0.0"
KAFKA_BINDING = "0.5.0"
DOCUMENT_JSON = Path("docs/asyncapi.json")
DOCUMENT_MD = Path("docs/asyncapi.md")

# Topic settings as the relay and the router create them (relay.ensure_topic,
# feeds.router.ensure_router_topics / _ensure_feeds), with the settings' default counts.
FOREVER = {"cleanup.policy": ["delete"], "retention.ms": -1}
COMPACTED = {"cleanup.policy": ["compact"]}

TIMESTAMP = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$"
HEX64 = r"^[0-9a-f]{64}$"
DECIMAL = r"^(0|[1-9][0-9]*)$"
CE_REF = (
    "https://github.com/cloudevents/spec/blob/v1.0.2/cloudevents/bindings/kafka-protocol-binding.md"
)


def _ref(*path: str) -> dict[str, str]:
    return {"$ref": "#/" + "/".join(path)}


def _text(value: str) -> dict[str, Any]:
    return {"type": "string", "description": value}


# ----------------------------------------------------------------------------- headers
def _complaint_event_headers() -> dict[str, Any]:
    """Headers of a complaint event (binary content mode: attributes as `ce_` headers)."""
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes in Kafka binary content mode, values UTF-8",
        "properties": {
            "ce_specversion": {"type": "string", "const": SPEC_VERSION},
            "ce_id": _text(
                "`<complaint_id>:<version>`: unique and stable per event, the same on a "
                "re-publication (deduplicate on it)"
            ),
            "ce_source": {"type": "string", "const": SOURCE},
            "ce_type": {
                "type": "string",
                "pattern": r"^id\.go\.lapor\.complaint\.[a-z_]+\.v1$",
                "description": "the event type; decides the payload schema",
            },
            "ce_dataschema": _dataschema_header(),
            "ce_time": {
                "type": "string",
                "pattern": TIMESTAMP,
                "description": "business time of the event (the payload's `at`), UTC",
            },
            "ce_subject": _text("the complaint's tracking id, e.g. LAP-2026-0000123"),
            "content-type": {
                "type": "string",
                "const": CONTENT_TYPE,
                "description": "media type of the value (the binding's `datacontenttype`)",
            },
            "ce_complaintversion": {
                "type": "string",
                "pattern": DECIMAL,
                "description": "extension: the event's version within its complaint",
            },
            "ce_position": {
                "type": "string",
                "pattern": DECIMAL,
                "description": "extension: global position in the event store's notification log",
            },
            "ce_eventhash": {
                "type": "string",
                "pattern": HEX64,
                "description": "extension: the payload's event_hash",
            },
            "ce_prevhash": {
                "type": "string",
                "pattern": HEX64,
                "description": "extension: the payload's prev_hash",
            },
        },
        "required": [
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_time",
            "ce_subject",
            "content-type",
            "ce_complaintversion",
            "ce_position",
            "ce_eventhash",
            "ce_prevhash",
        ],
        "additionalProperties": False,
    }


def _dataschema_header() -> dict[str, Any]:
    return {
        "type": "string",
        "format": "uri",
        "pattern": "^" + DATASCHEMA_PREFIX.replace(".", r"\.") + r"id\.go\.lapor\.",
        "description": "the JSON Schema of the value: `urn:lapor-es:schema:<ce_type>`, the "
        "`$id` of a schema shipped in the package (`lapor_es.contract.schemas.resolve`). "
        "On every record published since it was introduced; older records lack it",
    }


def _feed_event_headers() -> dict[str, Any]:
    """Headers of the two events the router makes (ComplaintAssigned, ComplaintLeft)."""
    return {
        "type": "object",
        "description": "CloudEvents 1.0 attributes in Kafka binary content mode, values UTF-8",
        "properties": {
            "ce_specversion": {"type": "string", "const": SPEC_VERSION},
            "ce_id": _text(
                "`<complaint_id>:<version>:assigned` or `...:left`: stable across "
                "redeliveries (deduplicate on it)"
            ),
            "ce_source": {"type": "string", "const": FEED_SOURCE},
            "ce_type": {
                "type": "string",
                "pattern": r"^id\.go\.lapor\.agency\.[a-z_]+\.v1$",
                "description": "the feed event type; decides the payload schema",
            },
            "ce_dataschema": _dataschema_header(),
            "ce_time": {
                "type": "string",
                "pattern": TIMESTAMP,
                "description": "business time of the complaint event that caused it, UTC",
            },
            "ce_subject": _text("the complaint's tracking id"),
            "content-type": {"type": "string", "const": CONTENT_TYPE},
            "ce_complaintversion": {
                "type": "string",
                "pattern": DECIMAL,
                "description": "extension: version of the complaint event that caused it",
            },
            "ce_agency": _text("extension: the agency whose feed this is"),
        },
        "required": [
            "ce_specversion",
            "ce_id",
            "ce_source",
            "ce_type",
            "ce_time",
            "ce_subject",
            "content-type",
            "ce_complaintversion",
            "ce_agency",
        ],
        "additionalProperties": False,
    }


def _dead_letter_headers() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "the input record's own headers (usually a complaint event's ce_* "
        "headers), followed by the router's dlq_* headers",
        "properties": {name: _text(meaning) for name, meaning in DEAD_LETTER_HEADERS.items()},
        "required": list(DEAD_LETTER_HEADERS),
        "additionalProperties": {"type": "string"},
    }


# ----------------------------------------------------------------------------- schemas
class _Components:
    """Collects components/schemas while model schemas are inlined into messages."""

    def __init__(self) -> None:
        self.schemas: dict[str, Any] = {}

    def inline(self, schema: dict[str, Any]) -> dict[str, Any]:
        """A 2020-12 model schema as an AsyncAPI (draft-07) Schema Object."""
        body = {k: v for k, v in schema.items() if k not in ("$schema", "$id", "$defs")}
        for name, definition in schema.get("$defs", {}).items():
            converted = _draft07(definition)
            if self.schemas.setdefault(name, converted) != converted:
                raise ValueError(f"two different schemas are both called {name!r}")
        converted_body: dict[str, Any] = _draft07(body)
        return converted_body

    def model(self, model: type[BaseModel]) -> dict[str, Any]:
        return self.inline(model.model_json_schema(mode="serialization"))


def _draft07(node: Any) -> Any:
    """Rewrite the 2020-12 keywords pydantic emits: `$defs` references and tuples."""
    if isinstance(node, list):
        return [_draft07(item) for item in node]
    if not isinstance(node, dict):
        return node
    out = {key: _draft07(value) for key, value in node.items()}
    ref = out.get("$ref")
    if isinstance(ref, str) and ref.startswith("#/$defs/"):
        out["$ref"] = "#/components/schemas/" + ref.removeprefix("#/$defs/")
    if "prefixItems" in out:
        out["items"] = out.pop("prefixItems")
        out["additionalItems"] = False
    return out


# ----------------------------------------------------------------------------- messages
def _event_message(kind: str, payload: dict[str, Any], headers: str, summary: str) -> Any:
    return {
        "name": payload.get("title", kind),
        "title": kind,
        "summary": summary,
        "contentType": CONTENT_TYPE,
        "headers": {
            "allOf": [_ref("components", "schemas", headers)],
            "properties": {
                "ce_type": {"const": kind},
                "ce_dataschema": {"const": dataschema(kind)},
            },
        },
        "payload": payload,
        "bindings": {
            "kafka": {
                "key": {
                    "type": "string",
                    "format": "uuid",
                    "description": "the complaint id (UTF-8): one complaint, one partition",
                },
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }


def _messages(components: _Components) -> dict[str, Any]:
    shipped = {
        name.removesuffix(".json"): json.loads(text) for name, text in schema_documents().items()
    }
    messages: dict[str, Any] = {}
    for name in PAYLOAD_MODELS:
        kind = ce_type(name)
        messages[name] = _event_message(
            kind,
            components.inline(shipped[kind]),
            "ComplaintEventHeaders",
            f"A complaint's {name} event (explained in docs/events.md#{name.lower()})",
        )
    for name, feed_model in FEED_MODELS.items():
        kind = feed_ce_type(name)
        messages[name] = _event_message(
            kind,
            components.inline(shipped[kind]),
            "FeedEventHeaders",
            (feed_model.__doc__ or name).strip().splitlines()[0],
        )
    messages["RouterState"] = {
        "name": "ComplaintRoute",
        "title": "Router state of one complaint",
        "summary": "The latest record per key is the complaint's routing state (compacted)",
        "contentType": CONTENT_TYPE,
        "payload": components.model(ComplaintRoute),
        "bindings": {"kafka": {"key": _complaint_key(), "bindingVersion": KAFKA_BINDING}},
    }
    messages["DeadLetter"] = {
        "name": "DeadLetter",
        "title": "Parked input record",
        "summary": "A record the router could not route, or one waiting behind it",
        "description": "Key and value are the input record's, unchanged (normally a complaint "
        "event of lapor.complaints.v1, but a parked record may be anything: that is why it "
        "is parked). `lapor-es feeds dlq list` shows them, `lapor-es feeds dlq retry` replays "
        "them through the control topic.",
        "headers": _ref("components", "schemas", "DeadLetterHeaders"),
        "payload": {"description": "the input record's value, as it was"},
        "bindings": {
            "kafka": {
                "key": {
                    "anyOf": [{"type": "string"}, {"type": "null"}],
                    "description": "the input record's key: the complaint id; null when the "
                    "input record had none",
                },
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }
    messages["RetryCommand"] = {
        "name": "RetryCommand",
        "title": "Retry parked records",
        "summary": "Written by `lapor-es feeds dlq retry`, read by the router",
        "contentType": CONTENT_TYPE,
        "payload": components.model(RetryCommand),
        "bindings": {
            "kafka": {
                "key": {"type": "null", "description": "no key"},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }
    messages["AuditCheckpoint"] = {
        "name": "CheckpointRecord",
        "title": "Signed checkpoint of every chain head",
        "summary": "Appended by `lapor-es audit checkpoint`; read by `audit verify --checkpoint`",
        "contentType": CONTENT_TYPE,
        "headers": {
            "type": "object",
            "properties": {"content-type": {"type": "string", "const": CONTENT_TYPE}},
            "required": ["content-type"],
            "additionalProperties": False,
        },
        "payload": components.model(CheckpointRecord),
        "bindings": {
            "kafka": {
                "key": {"type": "string", "const": "checkpoint"},
                "bindingVersion": KAFKA_BINDING,
            }
        },
    }
    return messages


def _complaint_key() -> dict[str, Any]:
    return {"type": "string", "format": "uuid", "description": "the complaint id (UTF-8)"}


# ----------------------------------------------------------------------------- channels
def _kafka_channel(
    topic: str | None, partitions: int, config: dict[str, Any]
) -> dict[str, dict[str, Any]]:
    binding: dict[str, Any] = {"topic": topic} if topic else {}
    binding |= {
        "partitions": partitions,
        "replicas": 1,
        "topicConfiguration": config,
        "bindingVersion": KAFKA_BINDING,
    }
    return {"kafka": binding}


def _refs(names: Iterable[str]) -> dict[str, Any]:
    return {name: _ref("components", "messages", name) for name in names}


def _channels() -> dict[str, Any]:
    complaint_events = list(PAYLOAD_MODELS)
    return {
        "complaints": {
            "address": topics.COMPLAINTS,
            "title": "Complaint events",
            "description": "Every stored complaint event, exactly once, in order per complaint "
            "(key = complaint id), infinite retention; published in Kafka transactions, so read "
            "with isolation.level=read_committed. Name: LAPOR_KAFKA_TOPIC. Partitions: "
            "LAPOR_KAFKA_PARTITIONS; replicas: LAPOR_KAFKA_REPLICATION_FACTOR (3 in production).",
            "messages": _refs(complaint_events),
            "bindings": _kafka_channel(topics.COMPLAINTS, 6, FOREVER),
        },
        "agencyFeed": {
            "address": topics.agency_feed("{agency}"),
            "title": "An agency's feed",
            "description": "What one agency may see, per complaint in order: ComplaintAssigned "
            "when it comes to the agency (or one of its units), the complaint's own events "
            "unchanged (key, value and headers as on lapor.complaints.v1) while the agency holds "
            "it, ComplaintLeft when it leaves. Written by the agency router in transactions "
            "(read_committed); readable only with the agency's own credentials. Prefix: "
            "LAPOR_FEEDS_TOPIC_PREFIX; partitions: LAPOR_FEEDS_PARTITIONS.",
            "parameters": {
                "agency": {
                    "description": "agency code, `[A-Z0-9][A-Z0-9.-]*`; a unit's code extends "
                    "its parent's (KEMENKES.YANKES)",
                    "examples": ["KEMENKES", "KEMENKES.YANKES"],
                }
            },
            "messages": _refs([*FEED_MODELS, *complaint_events]),
            "bindings": _kafka_channel(None, 3, FOREVER),
        },
        "routerState": {
            "address": topics.router_state(),
            "title": "Agency router state",
            "description": "The router's routing state per complaint, written in the same "
            "transaction as the feed records and the consumed offsets; compacted. Internal to "
            "the router (LAPOR_FEEDS_ROUTER_TOPICS names the prefix).",
            "messages": _refs(["RouterState"]),
            "bindings": _kafka_channel(topics.router_state(), 1, COMPACTED),
        },
        "routerDeadLetters": {
            "address": topics.router_dead_letters(),
            "title": "Agency router dead letters",
            "description": "Records the router parked: one that failed, and every later record "
            "of its complaint waiting behind it, until a retry. Other complaints go on.",
            "messages": _refs(["DeadLetter"]),
            "bindings": _kafka_channel(topics.router_dead_letters(), 1, FOREVER),
        },
        "routerControl": {
            "address": topics.router_control(),
            "title": "Agency router control",
            "description": "Commands to a running (or the next started) router.",
            "messages": _refs(["RetryCommand"]),
            "bindings": _kafka_channel(topics.router_control(), 1, FOREVER),
        },
        "auditCheckpoints": {
            "address": topics.AUDIT_CHECKPOINTS,
            "title": "Audit checkpoints",
            "description": "Signed checkpoints of every chain head, kept where the event "
            "store's writers cannot rewrite them (docs/audit.md).",
            "messages": _refs(["AuditCheckpoint"]),
            "bindings": _kafka_channel(topics.AUDIT_CHECKPOINTS, 1, FOREVER),
        },
    }


def _operations(channels: dict[str, Any]) -> dict[str, Any]:
    def op(action: str, channel: str, summary: str, **extra: Any) -> dict[str, Any]:
        return {
            "action": action,
            "channel": _ref("channels", channel),
            "summary": summary,
            "messages": [
                _ref("channels", channel, "messages", m) for m in channels[channel]["messages"]
            ],
            **extra,
        }

    router_group = {
        "kafka": {
            "groupId": {"type": "string", "const": "lapor-es-agency-router"},
            "bindingVersion": KAFKA_BINDING,
        }
    }
    return {
        "publishComplaintEvents": op(
            "send", "complaints", "`lapor-es relay`: the event store's notification log, published"
        ),
        "consumeComplaintEvents": op(
            "receive",
            "complaints",
            "The projector (`lapor-es project --kafka`), the agency router, the notifier, "
            "`audit verify` and as-of replay read it",
        ),
        "publishAgencyFeeds": op(
            "send", "agencyFeed", "`lapor-es feeds route`: each agency's feed"
        ),
        "consumeAgencyFeed": op(
            "receive",
            "agencyFeed",
            "An agency backend reads its own feed (lapor_es.feeds.AgencySubscriber, kcat, a "
            "Java consumer); consumer group `<CODE>:<name>`",
        ),
        "keepRouterState": op(
            "send", "routerState", "The router writes a complaint's state with each batch"
        ),
        "loadRouterState": op(
            "receive",
            "routerState",
            "The router reads its state to the end on start",
        ),
        "parkRecords": op("send", "routerDeadLetters", "The router parks a record"),
        "requestRetry": op("send", "routerControl", "`lapor-es feeds dlq retry`"),
        "obeyControl": op(
            "receive", "routerControl", "The router reads commands", bindings=router_group
        ),
        "publishCheckpoints": op(
            "send", "auditCheckpoints", "`lapor-es audit checkpoint` with Kafka configured"
        ),
    }


def document() -> dict[str, Any]:
    """The AsyncAPI 3.0.0 document (a JSON-ready dict)."""
    components = _Components()
    messages = _messages(components)
    channels = _channels()
    return {
        "asyncapi": ASYNCAPI_VERSION,
        "id": "urn:lapor-es:asyncapi",
        "info": {
            "title": "lapor-es topics",
            "version": "1",
            "description": "Every Kafka topic lapor-es writes: the complaint events, the agency "
            "feeds, the agency router's own topics and the audit checkpoints. Records are "
            "CloudEvents 1.0 in Kafka binary content mode where they are events ([binding]("
            + CE_REF
            + ")). Topic names are the defaults; each can be changed by the setting named in "
            "its description. Brokers are deployment-specific (LAPOR_KAFKA_BOOTSTRAP). No other "
            "topic is written: the projector's dead letters are database rows (projections.md), "
            "and the reporter notifier sends e-mail and SMS, not records. "
            "Generated from src/lapor_es/contract/ by `lapor-es contract asyncapi`.",
            "license": {
                "name": "Apache-2.0",
                "url": "https://www.apache.org/licenses/LICENSE-2.0",
            },
        },
        "defaultContentType": CONTENT_TYPE,
        "channels": channels,
        "operations": _operations(channels),
        "components": {
            "schemas": {
                "ComplaintEventHeaders": _complaint_event_headers(),
                "FeedEventHeaders": _feed_event_headers(),
                "DeadLetterHeaders": _dead_letter_headers(),
                **dict(sorted(components.schemas.items())),
            },
            "messages": messages,
        },
    }


def document_json() -> str:
    return json.dumps(document(), indent=2, ensure_ascii=False) + "\n"
