"""Broker-enforced feed isolation: a second, secured broker (SASL/SCRAM, StandardAuthorizer,
deny by default) started from the launcher; agency A reads its own feed and nothing else."""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import GroupAuthorizationFailedError, TopicAuthorizationFailedError

from lapor_es.aggregates import Complaint
from lapor_es.application import LaporApp
from lapor_es.audit.verify import verify
from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from lapor_es.contract import to_record
from lapor_es.feeds import AgencySubscriber
from lapor_es.feeds.acl import Names, grant_agency, grant_router, grant_worker
from lapor_es.feeds.router import AgencyRouter, FeedSettings
from lapor_es.feeds.subscriber import agency_group
from lapor_es.kafka.relay import Relay, complaint_event_topics
from lapor_es.kafka.settings import KafkaSecurity, KafkaSettings
from lapor_es.projections.runners import KafkaRunner
from tests.conftest import NOW
from tests.support.builders import small_directory, traffic
from tests.support.kafka import OwnBroker, own_broker, read_topic, stored_events
from tests.support.projections import read_model_service

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

ADMIN = KafkaSecurity.scram("admin", "admin-test-secret")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    """A second broker in secured mode (SASL_PLAINTEXT and SASL_SSL listeners, a test CA) on
    ports of its own; stopped (and wiped) afterwards. The default broker is never touched."""
    data = tmp_path_factory.mktemp("kafka-secured")
    with own_broker(data, mode="secured", admin_password=ADMIN.password or "") as broker:
        assert broker.cafile is not None and broker.cafile.read_text().startswith("-----BEGIN")
        yield broker


@pytest.fixture(scope="module")
def secured_broker(secured: OwnBroker) -> str:
    return secured.bootstrap


def publish_as_admin(app: LaporApp, bootstrap: str, topic: str) -> int:
    """What the relay does, with the admin's credentials (the relay itself is plaintext)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all", **ADMIN.client_kwargs())
    count = 0
    for n in app.recorder.select_notifications(
        start=0, limit=10_000, topics=complaint_event_topics(), inclusive_of_start=False
    ):
        event = app.mapper.to_domain_event(n)
        assert isinstance(event, Complaint.Event)
        r = to_record(event, n.id)
        producer.send(topic, key=r.key, value=r.value, headers=r.headers)
        count += 1
    producer.flush()
    producer.close()
    return count


def read_as(bootstrap: str, who: KafkaSecurity, topic: str, group: str | None) -> int:
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
        isolation_level="read_committed", request_timeout_ms=15000, **who.client_kwargs(),
    )  # fmt: skip
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        # kafka-python's poll() only logs a topic authorization failure and returns nothing;
        # a ListOffsets request raises it, which is what we assert on.
        end = consumer.end_offsets([tp])[tp]
        if group is not None:
            consumer.committed(tp)  # an OffsetFetch: needs READ on the group
        consumer.seek_to_beginning(tp)
        # One poll may come back empty while the SASL fetch connection is still being set up
        # (seen on a loaded CI machine), so read until the end offset or a deadline.
        # The end offset may sit past a transaction marker, so stop at the first empty poll
        # after some records as well.
        read, deadline = 0, time.monotonic() + 30
        while end and consumer.position(tp) < end:
            got = sum(len(v) for v in consumer.poll(timeout_ms=1000).values())
            if read and not got:
                break
            read += got
            if not read and time.monotonic() > deadline:
                raise TimeoutError(f"no record of {topic} in 30 s; end offset {end}")
        return read
    finally:
        consumer.close()


def test_an_agency_reads_its_feed_and_nothing_else(secured_broker: str, tmp_path: Path) -> None:
    app = open_app(
        Settings(database_url=f"sqlite:///{tmp_path}/l.sqlite3", reporter_pepper="p"),
        clock=lambda: NOW,
    )
    try:
        small_directory(app)
        traffic(app, 8, NOW - timedelta(days=5))  # to KEMENKES and KEMENSOS
        feeds = FeedSettings(
            bootstrap=secured_broker, security=KafkaSecurity.scram("router", "router-pw")
        )
        admin_kafka = KafkaSettings(bootstrap=secured_broker, topic=feeds.input_topic)
        # ensure_topic has no security settings: create the main topic as admin instead.
        from kafka import KafkaAdminClient
        from kafka.admin import NewTopic

        admin = KafkaAdminClient(bootstrap_servers=secured_broker, **ADMIN.client_kwargs())
        admin.create_topics(
            [NewTopic(name=admin_kafka.topic, num_partitions=1, replication_factor=1)]
        )
        admin.close()
        assert publish_as_admin(app, secured_broker, feeds.input_topic) > 20

        # The router runs as its own principal with only its grants.
        as_admin = KafkaSettings(bootstrap=secured_broker, security=ADMIN)
        grant_router(as_admin, feeds, "router", "router-pw")
        stats = AgencyRouter(feeds).run(follow=False)
        assert stats.delivered > 0 and stats.parked == 0
        a, b = "KEMENKES", "KEMENSOS"
        user_a = grant_agency(as_admin, a, "pw-a")
        grant_agency(as_admin, b, "pw-b")
        as_a = KafkaSecurity.scram(user_a, "pw-a")

        with AgencySubscriber(secured_broker, a, agency_group(a, "backend"), security=as_a) as s:
            events = list(s.events(until_idle=True))
        assert events and events[0].kind == "assigned"
        assert all(e.payload.complaint_id for e in events)

        with pytest.raises(TopicAuthorizationFailedError):
            read_as(secured_broker, as_a, feeds.feed(b), None)  # B's feed
        with pytest.raises(TopicAuthorizationFailedError):
            read_as(secured_broker, as_a, feeds.input_topic, None)  # the full topic
        with pytest.raises(TopicAuthorizationFailedError):
            read_as(secured_broker, as_a, feeds.feed("KEMENKES.YANKES"), None)  # its unit's
        with pytest.raises(GroupAuthorizationFailedError):
            read_as(secured_broker, as_a, feeds.feed(a), agency_group(b, "x"))  # B's groups
        assert read_as(secured_broker, as_a, feeds.feed(a), agency_group(a, "y")) > 0
        wrong = KafkaSecurity.scram(user_a, "not-the-password")
        with pytest.raises(Exception):  # noqa: B017  (authentication fails, kind varies)
            read_as(secured_broker, wrong, feeds.feed(a), None)
        assert read_as(secured_broker, ADMIN, feeds.input_topic, None) > 0  # super user
    finally:
        app.close()


def test_the_whole_chain_over_tls_each_worker_under_its_own_principal(
    secured: OwnBroker, tmp_path: Path
) -> None:
    """filing -> relay -> projector and router -> agency subscriber -> audit verify, on the
    SASL_SSL listener, every client built by the factory as a principal with only its grants."""
    assert secured.tls_bootstrap is not None and secured.cafile is not None
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/store.sqlite3",
        projection_database_url=f"sqlite:///{tmp_path}/read.sqlite3",
        reporter_pepper="p",
    )
    app = open_app(settings, clock=lambda: NOW)
    tls = KafkaSettings(bootstrap=secured.tls_bootstrap, topic="chain.complaints.v1")

    def as_(user: str) -> KafkaSettings:
        return tls.with_security(KafkaSecurity.scram(user, f"{user}-pw", tls_cafile=secured.cafile))

    admin = tls.with_security(
        KafkaSecurity.scram("admin", ADMIN.password or "", tls_cafile=secured.cafile)
    )
    feeds = FeedSettings(
        bootstrap=tls.bootstrap,
        input_topic=tls.topic,
        router_topics="chain.router",
        router_id="chain-router",
        security=as_("router").security,
    )
    names = Names(topic=tls.topic, projector_group="chain-projector", feeds=feeds)
    names = replace(names, relay_transactional_id=tls.transactional_id)
    for role in ("relay", "projector", "router", "auditor"):
        grant_worker(admin, role, role, f"{role}-pw", names)
    agency = grant_agency(admin, "KEMENKES", "agency-pw")
    try:
        small_directory(app)
        traffic(app, 8, NOW - timedelta(days=5))
        stored = stored_events(app)

        relayed = Relay(app.recorder, app.mapper, as_("relay")).run(follow=False)
        assert relayed.published == len(stored)

        read_models = read_model_service(settings)
        models = read_models.models()
        projector = read_models.open_projector(models)
        projected = KafkaRunner(as_("projector"), "chain-projector", projector).run(
            follow=False, idle_timeout=0.5
        )
        assert (projected.events, projected.parked) == (len(stored), 0)
        assert projected.applied == len(stored) * len(models)  # each event once per model

        routed = AgencyRouter(feeds).run(follow=False)
        assert routed.delivered > 0 and routed.parked == 0

        agency_tls = KafkaSecurity.scram(agency, "agency-pw", tls_cafile=secured.cafile)
        with AgencySubscriber(
            tls.bootstrap, "KEMENKES", agency_group("KEMENKES", "backend"), security=agency_tls
        ) as feed:
            events = list(feed.events(until_idle=True))
        assert events and events[0].kind == "assigned"
        with pytest.raises(TopicAuthorizationFailedError):  # still only its own feed
            read_as(tls.bootstrap, agency_tls, tls.topic, None)
        with pytest.raises(TopicAuthorizationFailedError):  # the auditor cannot write feeds
            read_as(tls.bootstrap, as_("projector").security, feeds.feed("KEMENKES"), None)

        report = verify(kafka=as_("auditor"), recorder=app.recorder, mapper=app.mapper)
        assert report.ok, report.as_dict()
        assert report.topic_events == report.store_events == len(stored)
        assert len(read_topic(admin)) == len(stored)
    finally:
        app.close()
