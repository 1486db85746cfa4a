"""Reading a test topic back and checking the relay's guarantees against the store."""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass

from kafka import KafkaConsumer, TopicPartition

from lapor_es.application import LaporApp
from lapor_es.contract.cloudevents import header_map
from lapor_es.kafka.relay import complaint_event_topics
from lapor_es.kafka.settings import KafkaSettings


@dataclass(frozen=True)
class Read:
    partition: int
    offset: int
    key: bytes
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def attributes(self) -> dict[str, str]:
        return header_map(self.headers)


def read_topic(
    kafka: KafkaSettings, *, isolation: str = "read_committed", timeout_s: float = 60.0
) -> list[Read]:
    """Every record of the topic, in partition order, up to the current end."""
    consumer = KafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        isolation_level=isolation,
        enable_auto_commit=False,
        group_id=None,
    )
    try:
        partitions = [
            TopicPartition(kafka.topic, p)
            for p in sorted(consumer.partitions_for_topic(kafka.topic) or [])
        ]
        if not partitions:
            return []  # the topic does not exist (yet)
        consumer.assign(partitions)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(partitions)
        out: list[Read] = []
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in partitions):
            assert time.monotonic() < deadline, "timed out reading the topic"
            for tp, records in consumer.poll(timeout_ms=500).items():
                out += [
                    Read(tp.partition, r.offset, r.key, r.value, list(r.headers))
                    for r in records
                    if r.offset < ends[tp]
                ]
        return sorted(out, key=lambda r: (r.partition, r.offset))
    finally:
        consumer.close()


def stored_events(app: LaporApp) -> list[tuple[int, str, int]]:
    """(position, complaint id, version) of every complaint event in the store."""
    out, start = [], 0
    while batch := app.recorder.select_notifications(
        start=start, limit=1000, topics=complaint_event_topics(), inclusive_of_start=False
    ):
        out += [(n.id, str(n.originator_id), n.originator_version) for n in batch]
        start = batch[-1].id
    return out


def assert_exactly_once_in_order(records: list[Read], stored: list[tuple[int, str, int]]) -> None:
    published = [
        (int(r.attributes["position"]), r.key.decode(), int(r.attributes["complaintversion"]))
        for r in records
    ]
    counts = Counter(published)
    duplicates = [e for e, n in counts.items() if n > 1]
    assert duplicates == [], f"published more than once: {duplicates[:5]}"
    missing = sorted(set(stored) - set(published))
    assert missing == [], f"stored but not published: {missing[:5]} ({len(missing)} in all)"
    extra = sorted(set(published) - set(stored))
    assert extra == [], f"published but never stored: {extra[:5]}"
    assert len({r.attributes["id"] for r in records}) == len(records), "ce_id not unique"
    # Per complaint, topic order (one partition, offset order) is version order 1..n.
    versions: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for r in records:  # already in (partition, offset) order
        versions[r.key.decode()].append(int(r.attributes["complaintversion"]))
        partitions[r.key.decode()].add(r.partition)
    for cid, seen in versions.items():
        assert seen == list(range(1, len(seen) + 1)), f"{cid}: versions {seen}"
        assert len(partitions[cid]) == 1, f"{cid} spread over partitions {partitions[cid]}"
