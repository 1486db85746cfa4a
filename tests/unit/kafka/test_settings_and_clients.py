"""One security configuration reaches every client the factory builds."""

from __future__ import annotations

from pathlib import Path

import pytest
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from lapor_es.bootstrap import projection_engine_at
from lapor_es.config import Settings
from lapor_es.feeds.router import AgencyRouter, FeedSettings
from lapor_es.kafka import clients
from lapor_es.kafka.loop import Liveness, decode_batch
from lapor_es.kafka.settings import KafkaSecurity, KafkaSettings
from lapor_es.projections.core import Projector
from lapor_es.projections.rebuild import TopicFeed
from lapor_es.projections.runners import KafkaRunner

CA = Path("ca.pem")


def test_plaintext_adds_no_credentials() -> None:
    assert KafkaSecurity().client_kwargs() == {"security_protocol": "PLAINTEXT"}


def test_sasl_ssl_carries_scram_and_the_ca() -> None:
    kwargs = KafkaSecurity.scram("relay", "pw", tls_cafile=CA).client_kwargs()
    assert kwargs == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "relay",
        "sasl_plain_password": "pw",
        "ssl_check_hostname": True,
        "ssl_cafile": "ca.pem",
    }


def test_a_sasl_protocol_without_a_password_is_refused() -> None:
    with pytest.raises(ValueError, match="SASL user name and password"):
        KafkaSecurity(protocol="SASL_SSL", username="relay").client_kwargs()


def test_as_user_keeps_the_transport() -> None:
    admin = KafkaSecurity.scram("admin", "a", tls_cafile=CA)
    worker = admin.as_user("projector", "s3cr3t-pw")
    assert (worker.protocol, worker.ssl_cafile, worker.username) == ("SASL_SSL", CA, "projector")
    assert KafkaSecurity(protocol="SSL", ssl_cafile=CA).as_user("u", "p").protocol == "SASL_SSL"
    assert "s3cr3t-pw" not in repr(worker)  # the password never shows in logs


def test_settings_bring_security_and_topic(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "LAPOR_KAFKA_BOOTSTRAP": "broker:9093",
        "LAPOR_KAFKA_TOPIC": "t.v1",
        "LAPOR_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "LAPOR_KAFKA_SASL_USERNAME": "relay",
        "LAPOR_KAFKA_SASL_PASSWORD": "secret",
        "LAPOR_KAFKA_SSL_CAFILE": "/etc/lapor/ca.pem",
        "LAPOR_KAFKA_SSL_CHECK_HOSTNAME": "false",
    }.items():
        monkeypatch.setenv(name, value)
    kafka = KafkaSettings.from_settings(Settings())
    assert (kafka.bootstrap, kafka.topic) == ("broker:9093", "t.v1")
    assert kafka.security.client_kwargs() == {
        "security_protocol": "SASL_SSL",
        "sasl_mechanism": "SCRAM-SHA-512",
        "sasl_plain_username": "relay",
        "sasl_plain_password": "secret",
        "ssl_check_hostname": False,
        "ssl_cafile": "/etc/lapor/ca.pem",
    }


def test_the_consumer_loop_limits_are_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in {
        "LAPOR_KAFKA_BOOTSTRAP": "broker:9093",
        "LAPOR_KAFKA_ASSIGNMENT_TIMEOUT_S": "12",
        "LAPOR_KAFKA_STALL_TIMEOUT_S": "34",
        "LAPOR_KAFKA_CATCH_UP_DEADLINE_S": "14400",
    }.items():
        monkeypatch.setenv(name, value)
    kafka = KafkaSettings.from_settings(Settings())
    assert kafka.liveness == Liveness(
        assignment_timeout_s=12, stall_timeout_s=34, deadline_s=14_400
    )
    # ... and reach the loops built on those settings (none connects before its first poll).
    assert TopicFeed(kafka, 10).liveness == kafka.liveness
    feeds = FeedSettings(kafka.bootstrap, liveness=kafka.liveness)
    assert AgencyRouter(feeds).liveness == kafka.liveness
    engine = projection_engine_at("sqlite://")
    try:
        runner = KafkaRunner(kafka, "g", Projector(engine, []))
        assert runner.loop.liveness == kafka.liveness
    finally:
        engine.dispose()


def test_no_bootstrap_is_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LAPOR_KAFKA_BOOTSTRAP", raising=False)
    with pytest.raises(ValueError, match="LAPOR_KAFKA_BOOTSTRAP"):
        KafkaSettings.from_settings(Settings(_env_file=None))


def test_every_consumer_gets_the_security_and_read_committed() -> None:
    kafka = KafkaSettings("b:1", security=KafkaSecurity.scram("auditor", "pw"))
    options = clients.consumer_options(kafka, client_id="audit")
    assert options["sasl_plain_username"] == "auditor"
    assert options["isolation_level"] == "read_committed"
    assert options["enable_auto_commit"] is False
    assert "session_timeout_ms" not in options  # no group: no membership settings
    raw = clients.consumer_options(kafka, client_id="x", read_committed=False)
    assert raw["isolation_level"] == "read_uncommitted"


def test_group_members_get_bounded_membership_timeouts() -> None:
    options = clients.consumer_options(KafkaSettings("b:1"), client_id="p", group_id="g")
    assert options["max_poll_interval_ms"] == clients.MAX_POLL_INTERVAL_MS
    assert options["session_timeout_ms"] < options["max_poll_interval_ms"]
    assert (
        clients.consumer_options(
            KafkaSettings("b:1"), client_id="p", group_id="g", max_poll_records=7
        )["max_poll_records"]
        == 7
    )


def test_producers_are_idempotent_and_transactional_on_request() -> None:
    kafka = KafkaSettings("b:1", security=KafkaSecurity.scram("relay", "pw"))
    plain = clients.producer_options(kafka, client_id="c")
    assert (plain["acks"], plain["enable_idempotence"]) == ("all", True)
    assert "transactional_id" not in plain
    txn = clients.producer_options(kafka, client_id="c", transactional_id="lapor-es-relay")
    assert txn["transactional_id"] == "lapor-es-relay"
    assert txn["sasl_plain_username"] == "relay"


def record(offset: int, value: bytes) -> ConsumerRecord:
    return ConsumerRecord("t", 0, None, offset, 0, 0, None, value, [], None, 0, len(value), 0)


def test_decode_sets_aside_what_does_not_decode_in_order() -> None:
    tp = TopicPartition("t", 0)
    polled = {tp: [record(0, b"1"), record(1, b"x"), record(2, b"3"), record(3, b"4")]}
    decoded = decode_batch(polled, lambda _, r: int(r.value), within=lambda _, offset: offset < 3)
    assert decoded.items == [1, 3]
    assert [(u.record.offset, type(u.error)) for u in decoded.undecodable] == [(1, ValueError)]
    assert decoded.records == 3
