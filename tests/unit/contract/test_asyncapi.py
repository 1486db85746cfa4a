"""The AsyncAPI document: valid AsyncAPI 3.0.0, fresh in docs/, and true to what the relay, the
router and the auditor actually write (records built by their own code are checked against
the document's messages)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from lapor_es.aggregates import Complaint
from lapor_es.application import LaporApp
from lapor_es.audit import checkpoint as anchors
from lapor_es.audit import store as store_pass
from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from lapor_es.contract import topics
from lapor_es.contract.asyncapi import document
from lapor_es.contract.asyncapi_markdown import stale_documents
from lapor_es.contract.cloudevents import Record, from_record, to_record
from lapor_es.contract.feeds import FeedPayload
from lapor_es.contract.router_records import ComplaintRoute, RetryCommand
from lapor_es.feeds.router import AgencyRouter, FeedSettings, InRecord, _Batch, feed_headers
from lapor_es.feeds.routing import left, route
from lapor_es.kafka.relay import complaint_event_topics
from lapor_es.kafka.settings import KafkaSettings
from tests.conftest import NOW
from tests.support.builders import small_directory, traffic

REPO = Path(__file__).resolve().parents[3]
OFFICIAL = REPO / "tests" / "data" / "asyncapi" / "asyncapi-3.0.0.schema.json"
OFFICIAL_SHA256 = "d4571a420e6ffb7fcc7066c95a6db1202f299a3c51daa103d0706bf30f95e626"
Json = dict[str, Any]


# ----------------------------------------------------------------------------- the document
def official_validator() -> jsonschema.Draft7Validator:
    data = OFFICIAL.read_bytes()
    assert hashlib.sha256(data).hexdigest() == OFFICIAL_SHA256, "the vendored schema was edited"
    return jsonschema.Draft7Validator(json.loads(data))


def test_the_document_is_valid_asyncapi_3() -> None:
    validator = official_validator()
    doc = json.loads((REPO / "docs" / "asyncapi.json").read_text(encoding="utf-8"))
    errors = [f"{list(e.absolute_path)}: {e.message[:200]}" for e in validator.iter_errors(doc)]
    assert errors == []
    assert doc["asyncapi"] == "3.0.0"


def test_the_official_schema_catches_a_broken_document() -> None:
    """The validation above can fail: AsyncAPI 2's `publish` is no 3.0 operation action."""
    doc = document()
    doc["operations"]["publishComplaintEvents"]["action"] = "publish"
    assert not official_validator().is_valid(doc)


def test_docs_asyncapi_json_and_md_are_fresh() -> None:
    assert stale_documents(REPO) == [], "run `lapor-es contract asyncapi` and commit docs/"


def test_every_reference_resolves_and_operations_use_their_channels_messages() -> None:
    doc = document()
    for ref in references(doc):
        assert ref.startswith("#/"), ref
        resolve(doc, ref)  # raises KeyError if dangling
    for name, operation in doc["operations"].items():
        channel = operation["channel"]["$ref"]
        for message in operation["messages"]:
            assert message["$ref"].startswith(channel + "/messages/"), name


def references(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from references(value)
    elif isinstance(node, list):
        for item in node:
            yield from references(item)


def resolve(doc: Json, ref: str) -> Any:
    target: Any = doc
    for part in ref.removeprefix("#/").split("/"):
        target = target[part]
    return target


def test_every_topic_is_a_channel_with_the_producers_names() -> None:
    """The defaults of the settings and the producers' helpers name the documented topics."""
    addresses = {channel["address"] for channel in document()["channels"].values()}
    feeds = FeedSettings(bootstrap="unused")
    settings = Settings()
    assert addresses == {
        KafkaSettings(bootstrap="unused").topic,
        settings.kafka_topic,
        feeds.feed("{agency}"),
        topics.agency_feed("{agency}", settings.feeds_topic_prefix),
        feeds.state_topic,
        feeds.dlq_topic,
        feeds.control_topic,
        topics.router_state(settings.feeds_router_topics),
        anchors.TOPIC,
    }
    kafka = document()["channels"]["complaints"]["bindings"]["kafka"]
    assert kafka["partitions"] == KafkaSettings(bootstrap="unused").partitions
    feed = document()["channels"]["agencyFeed"]["bindings"]["kafka"]
    assert feed["partitions"] == feeds.feed_partitions == settings.feeds_partitions


# ----------------------------------------------------------------------------- real records
@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LaporApp, list[Record]]]:
    """What the relay publishes for a varied small history, built by the relay's own code."""
    directory = tmp_path_factory.mktemp("asyncapi")
    settings = Settings(
        database_url=f"sqlite:///{directory}/lapor.sqlite3", reporter_pepper="test-pepper"
    )
    app = open_app(settings, clock=lambda: NOW)
    try:
        small_directory(app)
        traffic(app, 30, NOW - timedelta(days=40))
        notifications = app.recorder.select_notifications(
            start=0, limit=100_000, topics=complaint_event_topics()
        )
        events = [(app.mapper.to_domain_event(n), n.id) for n in notifications]
        yield app, [to_record(e, at) for e, at in events if isinstance(e, Complaint.Event)]
    finally:
        app.close()


def message_schema(doc: Json, name: str, part: str) -> Json:
    """A message's headers or payload schema with every reference inlined."""
    schema: Json = inline(doc, doc["components"]["messages"][name][part])
    return schema


def inline(doc: Json, node: Any) -> Any:
    if isinstance(node, dict):
        if "$ref" in node:
            return inline(doc, resolve(doc, node["$ref"]))
        return {key: inline(doc, value) for key, value in node.items()}
    if isinstance(node, list):
        return [inline(doc, item) for item in node]
    return node


def check(value: Any, schema: Json) -> None:
    """Validate as AsyncAPI 3.0 reads its Schema Objects: JSON Schema draft-07."""
    jsonschema.Draft7Validator(schema).validate(value)


def assert_matches(doc: Json, message: str, headers: list[tuple[str, bytes]], value: Any) -> None:
    check({name: raw.decode() for name, raw in headers}, message_schema(doc, message, "headers"))
    check(value, message_schema(doc, message, "payload"))


def test_relay_records_match_their_messages(records: tuple[LaporApp, list[Record]]) -> None:
    doc = document()
    seen = set()
    for record in records[1]:
        delivered = from_record(record.value, record.headers)
        assert delivered.payload.type in doc["channels"]["complaints"]["messages"]
        assert_matches(doc, delivered.payload.type, record.headers, json.loads(record.value))
        seen.add(delivered.payload.type)
    assert len(seen) >= 8, seen  # the history is varied enough to mean something


def test_a_wrong_header_does_not_match() -> None:
    doc = document()
    with pytest.raises(jsonschema.ValidationError):
        check({"ce_specversion": "0.3"}, message_schema(doc, "Filed", "headers"))


def router_outputs(records: list[Record]) -> list[FeedPayload]:
    """The feed events the router's own routing function makes from these records."""
    states: dict[bytes, ComplaintRoute] = {}
    made: list[FeedPayload] = []
    for record in records:
        state = states.setdefault(record.key, ComplaintRoute())
        made += [
            out.payload
            for out in route(state, from_record(record.value, record.headers))
            if out.payload
        ]
    return made


def test_router_feed_records_match_their_messages(
    records: tuple[LaporApp, list[Record]],
) -> None:
    doc = document()
    batch = _Batch()
    made = router_outputs(records[1])
    assert made and {p.type for p in made} == {"ComplaintAssigned"}  # nothing left in traffic()
    last = from_record(records[1][-1].value, records[1][-1].headers)
    made.append(left(last.complaint_id, "KEMENKES", last, "declined"))
    for payload in made:
        batch.sends.clear()
        batch.add_output("lapor.agency.X.v1", _any_input(), _to_feed(payload))
        _, key, value, headers = batch.sends[0]
        assert key == payload.complaint_id.encode() and value is not None
        assert headers == feed_headers(payload)
        assert payload.type in doc["channels"]["agencyFeed"]["messages"]
        assert_matches(doc, payload.type, headers, json.loads(value))


def _any_input() -> InRecord:
    return InRecord("lapor.complaints.v1", 0, 0, b"k", b"{}", [])


def _to_feed(payload: FeedPayload) -> Any:
    from lapor_es.feeds.routing import ToFeed

    return ToFeed(payload.agency, payload)


def test_dead_letters_match_their_message(records: tuple[LaporApp, list[Record]]) -> None:
    doc = document()
    router = AgencyRouter(FeedSettings(bootstrap="unused"))  # builds records, connects nowhere
    record = records[1][0]
    batch = _Batch()
    rec = InRecord("lapor.complaints.v1", 2, 17, record.key, record.value, record.headers)
    router._dead_letter(rec, batch, "ValueError: bad", blocked=False)
    topic, _, _, headers = batch.sends[0]
    assert topic == doc["channels"]["routerDeadLetters"]["address"]
    check(
        {name: raw.decode() for name, raw in headers},
        message_schema(doc, "DeadLetter", "headers"),
    )


def test_router_state_and_control_values_match_their_messages(
    records: tuple[LaporApp, list[Record]],
) -> None:
    doc = document()
    state = ComplaintRoute()
    for record in records[1][:6]:
        if record.key == records[1][0].key:
            route(state, from_record(record.value, record.headers))
    state.parked.append(
        InRecord("t", 0, 1, b"k", b"\xff", [("ce_type", b"x")]).parked("ValueError: x")
    )
    check(json.loads(state.model_dump_json()), message_schema(doc, "RouterState", "payload"))
    command = RetryCommand(complaint_id=None, skip_failed=True)
    check(json.loads(command.model_dump_json()), message_schema(doc, "RetryCommand", "payload"))


def test_audit_checkpoint_records_match_their_message(
    records: tuple[LaporApp, list[Record]],
) -> None:
    app = records[0]
    stored = store_pass.scan(app.recorder, app.mapper, gaps_are_findings=True)
    taken = anchors.take(
        stored, Ed25519PrivateKey.generate(), source="event store", now=datetime.now(UTC)
    )
    on_kafka = json.loads(taken.to_json(with_chains=False))
    check(on_kafka, message_schema(document(), "AuditCheckpoint", "payload"))
