"""`audit verify --topic-only --jobs N` (issue 11): the topic's partitions checked in N
processes give exactly the findings of one reader, on a real broker with a tampered topic."""

from __future__ import annotations

import json
from typing import Any

import pytest
from kafka import KafkaProducer

from lapor_es.application import LaporApp
from lapor_es.audit.verify import AuditReport, verify
from lapor_es.kafka.settings import KafkaSettings
from tests.integration.test_audit import populate, publish, record_of, rehash
from tests.support.kafka import read_topic

pytestmark = [pytest.mark.integration]
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


def topic_audit(kafka: KafkaSettings, jobs: int) -> AuditReport:
    return verify(kafka=kafka, recorder=None, mapper=None, jobs=jobs)


def findings(report: AuditReport) -> list[str]:
    return sorted(json.dumps(f.as_dict(), sort_keys=True) for f in report.findings)


def tamper(lapor: LaporApp, kafka: KafkaSettings) -> tuple[list[str], dict[str, int]]:
    """Publish six complaints, then forge, rewrite, modify and repeat records on the topic
    (each under its complaint's key, so in its complaint's partition)."""
    tracking = populate(lapor)
    publish(lapor, kafka)
    reads = read_topic(kafka)
    records = {(r.key.decode(), int(r.attributes["complaintversion"])): r for r in reads}
    partition_of = {r.key.decode(): r.partition for r in reads}

    def payload(i: int, version: int) -> dict[str, Any]:
        value = records[(str(lapor.complaint_id_for(tracking[i])), version)].value
        loaded: dict[str, Any] = json.loads(value)
        return loaded

    forged = [
        rehash(payload(2, 7), version=8, prev_hash="ab" * 32),  # links to nothing
        rehash(payload(1, 3), title="Laporan lain"),  # a second version 3
        {**payload(0, 2), "title": "diubah"},  # version 2 again, hash not recomputed
        payload(4, 2),  # the same record again
    ]
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    for n, body in enumerate(forged):
        key, value, headers = record_of(body, 900 + n)
        producer.send(kafka.topic, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()
    return tracking, partition_of


@SQLITE_ONLY
def test_two_processes_find_what_one_reader_finds(lapor: LaporApp, kafka: KafkaSettings) -> None:
    tamper(lapor, kafka)

    serial = topic_audit(kafka, jobs=1)
    parallel = topic_audit(kafka, jobs=2)

    assert {f.kind for f in serial.findings} >= {"forged", "duplicated"}
    assert findings(parallel) == findings(serial)
    assert (parallel.topic_events, parallel.topic_head) == (serial.topic_events, serial.topic_head)
    assert parallel.topic_events and parallel.topic_events > 20


@SQLITE_ONLY
def test_a_record_forged_into_another_partition_is_found_as_one_reader_finds_it(
    lapor: LaporApp, kafka: KafkaSettings
) -> None:
    tracking, partition_of = tamper(lapor, kafka)
    cid = str(lapor.complaint_id_for(tracking[3]))
    home = partition_of[cid]
    elsewhere = next(p for p in range(kafka.partitions) if p != home)
    stored = next(r for r in read_topic(kafka) if r.key.decode() == cid)
    key, value, headers = record_of(rehash(json.loads(stored.value), title="palsu"), 950)
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    producer.send(kafka.topic, key=key, value=value, headers=headers, partition=elsewhere)
    producer.flush()
    producer.close()

    serial = topic_audit(kafka, jobs=1)
    parallel = topic_audit(kafka, jobs=kafka.partitions)

    assert any(f.tracking_id == tracking[3] for f in serial.findings)
    assert findings(parallel) == findings(serial)
