"""Reading a test topic back and checking the relay's guarantees against the store."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from kafka import TopicPartition

from lapor_es.application import LaporApp
from lapor_es.contract.cloudevents import header_map
from lapor_es.kafka import clients
from lapor_es.kafka.relay import complaint_event_topics
from lapor_es.kafka.settings import KafkaSettings
from tests.support.services import KAFKA_LAUNCHER, ci_mode


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
    consumer = clients.consumer(
        kafka, client_id="lapor-es-test-reader", read_committed=isolation == "read_committed"
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


# ---------------------------------------------------------------------- a broker of a test's own
@dataclass(frozen=True)
class OwnBroker:
    """A broker started by a test on ports and a data dir of its own (never the shared one).

    `tls_bootstrap` and `cafile` exist in secured mode only (SASL_SSL listener, test CA)."""

    env: dict[str, str]
    bootstrap: str
    tls_bootstrap: str | None = None
    cafile: Path | None = None

    def launcher(self, command: str, *, keep_data: bool = False) -> None:
        env = self.env | ({"KEEP_DATA": "1"} if keep_data else {})
        done = subprocess.run(
            ["bash", str(KAFKA_LAUNCHER), command], env=env, capture_output=True, text=True,
            timeout=600, check=False,
        )  # fmt: skip
        assert done.returncode == 0, f"broker {command} failed:\n{done.stderr[-3000:]}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def own_broker(
    data_dir: Path, *, mode: str = "plaintext", admin_password: str = ""
) -> Iterator[OwnBroker]:
    """Start a broker of this test's own; stop and wipe it afterwards. Skips outside CI
    when it cannot start (as the shared fixtures do), fails in CI."""
    env = os.environ | {
        "LAPOR_KAFKA_MODE": mode,
        "LAPOR_KAFKA_PORT": str(free_port()),
        "LAPOR_KAFKA_CONTROLLER_PORT": str(free_port()),
        "LAPOR_KAFKA_TLS_PORT": str(free_port()),
        "LAPOR_KAFKA_DIR": str(data_dir),
        "LAPOR_KAFKA_ADMIN_PASSWORD": admin_password,
        # The launcher's helper scripts need kafka-python: the interpreter running the tests.
        "LAPOR_PYTHON": sys.executable,
    }
    started = subprocess.run(
        ["bash", str(KAFKA_LAUNCHER), "start"], env=env, capture_output=True, text=True,
        timeout=900, check=False,
    )  # fmt: skip
    if started.returncode != 0:
        message = f"{mode} broker did not start:\n{started.stderr[-4000:]}"
        if ci_mode():
            pytest.fail(message)  # CI must run these tests, never skip them
        pytest.skip(message)
    try:
        broker = OwnBroker(env, started.stdout.strip().splitlines()[-1])
        if mode == "secured":
            config = subprocess.run(
                ["bash", str(KAFKA_LAUNCHER), "client-config"], env=env, capture_output=True,
                text=True, check=True,
            )  # fmt: skip
            values = dict(line.split("=", 1) for line in config.stdout.split())
            broker = replace(
                broker,
                tls_bootstrap=values["sasl_ssl_bootstrap"],
                cafile=Path(values["ssl_cafile"]),
            )
        yield broker
    finally:
        subprocess.run(
            ["bash", str(KAFKA_LAUNCHER), "stop"], env=env, capture_output=True, timeout=120,
            check=False,
        )  # fmt: skip
