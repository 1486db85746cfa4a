"""What integrators receive, read as they would: records of lapor.complaints.v1 and of the
agency feeds, taken from a real broker after the real relay and router wrote them, decoded by
the official CloudEvents SDK; each record's `dataschema` resolves to a schema shipped in the
package, and that schema validates the record's data."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import jsonschema
import pytest
from cloudevents.core.base import BaseCloudEvent
from cloudevents.core.bindings.kafka import KafkaMessage, from_binary
from cloudevents.core.formats.json import JSONFormat

from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from lapor_es.contract import schemas
from lapor_es.contract.cloudevents import dataschema
from lapor_es.feeds.router import AgencyRouter, FeedSettings
from lapor_es.kafka.relay import Relay
from lapor_es.kafka.settings import KafkaSettings
from tests.conftest import NOW
from tests.integration.test_agency_feed import scenario
from tests.support.builders import small_directory, traffic
from tests.support.kafka import Read, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

AGENCIES = ["KEMENKES", "KEMENKES.YANKES", "KEMENSOS", "KEMENSOS.LINJAMSOS"]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[LaporApp]:
    lapor = open_app(
        Settings(database_url=f"sqlite:///{tmp_path}/lapor.sqlite3", reporter_pepper="p"),
        clock=lambda: NOW,
    )
    small_directory(lapor)
    yield lapor
    lapor.close()


@pytest.fixture
def feeds(kafka: KafkaSettings) -> FeedSettings:
    suffix = kafka.topic.rsplit(".", 1)[1]
    return FeedSettings(
        bootstrap=kafka.bootstrap,
        input_topic=kafka.topic,
        feed_prefix=f"test.contract.{suffix}.",
        router_topics=f"test.contract-router.{suffix}",
        router_id=f"test-contract-router-{suffix}",
        feed_partitions=2,
    )


def decoded(record: Read) -> BaseCloudEvent:
    """The record as the CloudEvents SDK reads Kafka binary content mode."""
    message = KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value)
    return from_binary(message, JSONFormat())


def check_against_its_schema(event: BaseCloudEvent) -> None:
    uri = event.get_dataschema()
    assert uri == dataschema(event.get_type())
    schema = schemas.resolve(uri)  # the copy shipped in the installed package
    assert schema["$id"] == uri
    jsonschema.Draft202012Validator(schema).validate(event.get_data())


def test_main_topic_and_feed_records_decode_and_match_their_dataschema(
    app: LaporApp, kafka: KafkaSettings, feeds: FeedSettings
) -> None:
    scenario(app)  # declines and re-forwards: every kind of feed record
    traffic(app, 12, NOW - timedelta(days=30))
    Relay(app.recorder, app.mapper, kafka, batch_size=50).run(follow=False)
    assert AgencyRouter(feeds, batch_size=20).run(follow=False).parked == 0

    main = [decoded(r) for r in read_topic(kafka)]
    assert len(main) > 40
    for event in main:
        assert event.get_source() == "/lapor-es/complaints"
        check_against_its_schema(event)
    main_types = Counter(event.get_type() for event in main)
    assert len(main_types) >= 6, main_types

    feed_types: Counter[str] = Counter()
    for agency in AGENCIES:
        topic = KafkaSettings(bootstrap=feeds.bootstrap, topic=feeds.feed(agency))
        for record in read_topic(topic):
            event = decoded(record)
            check_against_its_schema(event)
            assert event.get_extension("partitionkey") == record.key.decode()
            if event.get_source() == "/lapor-es/agency-router":
                assert event.get_extension("agency") == agency
            feed_types[event.get_type()] += 1
    assert feed_types["id.go.lapor.agency.complaint_assigned.v1"] >= 4
    assert feed_types["id.go.lapor.agency.complaint_left.v1"] >= 2
    assert feed_types["id.go.lapor.complaint.work_started.v1"] >= 1  # passed through


def test_a_payload_off_its_schema_is_refused_by_it() -> None:
    """The check above can fail: a shipped schema rejects data it does not describe."""
    schema = schemas.load("id.go.lapor.agency.complaint_left.v1")
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft202012Validator(schema).validate({"type": "ComplaintLeft"})
