"""examples/java-consumer, built with Maven and run as an agency would run it: on a secured
broker of the test's own (Kafka 4, SASL/SCRAM-SHA-512 over TLS, deny by default), the agency's
user reads its feed, as written by the real relay and router, with kafka-clients of the
brokers' version, and prints every record once as a JSON line; a second run in the same group
prints nothing (the offsets were committed). In CI a missing `java` or `mvn` fails the test."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from lapor_es.feeds.acl import grant_agency
from lapor_es.feeds.router import AgencyRouter, FeedSettings
from lapor_es.kafka.relay import Relay
from lapor_es.kafka.settings import KafkaSecurity, KafkaSettings
from tests.conftest import NOW
from tests.support.builders import small_directory, traffic
from tests.support.kafka import OwnBroker, own_broker, read_topic
from tests.support.services import ci_mode

pytestmark = [pytest.mark.e2e, pytest.mark.kafka]

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "java-consumer"
MAIN_CLASS = "id.go.lapor.example.Main"
ADMIN_PASSWORD = "admin-java-example"
AGENCY, AGENCY_PASSWORD = "KEMENKES", "agency-java-pw"
ASSIGNED = "id.go.lapor.agency.complaint_assigned.v1"


@dataclass(frozen=True)
class Built:
    classes: Path
    classpath: str

    def command(self, *args: str) -> list[str]:
        return ["java", "-cp", f"{self.classes}:{self.classpath}", MAIN_CLASS, *args]


def missing(message: str) -> None:
    if ci_mode():
        pytest.fail(message)  # CI must run this test, never skip it
    pytest.skip(message)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The example compiled in a copy of its folder (the tree gets no target/): offline when
    ~/.m2 has everything, else from Maven Central."""
    for tool in ("java", "mvn"):
        if shutil.which(tool) is None:
            missing(f"{tool} not found: the Java example cannot be built")
    project = tmp_path_factory.mktemp("java-consumer") / "project"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target"))
    goals = ["compile", "dependency:build-classpath", "-Dmdep.outputFile=target/classpath.txt"]
    for offline in (["-o"], []):
        done = subprocess.run(
            ["mvn", "-q", "-B", *offline, *goals], cwd=project, capture_output=True, text=True,
            timeout=900, check=False,
        )  # fmt: skip
        if done.returncode == 0:
            break
    assert done.returncode == 0, f"mvn failed:\n{done.stdout[-3000:]}{done.stderr[-3000:]}"
    classpath = (project / "target" / "classpath.txt").read_text(encoding="utf-8").strip()
    return Built(project / "target" / "classes", classpath)


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnBroker]:
    with own_broker(
        tmp_path_factory.mktemp("kafka-java"), mode="secured", admin_password=ADMIN_PASSWORD
    ) as broker:
        yield broker


def write_feed(broker: OwnBroker, store: Path) -> KafkaSettings:
    """Complaints filed and forwarded in a store, relayed and routed to the agencies' feeds
    over TLS as the admin; returns the admin's settings for reading the agency's feed."""
    assert broker.tls_bootstrap is not None and broker.cafile is not None
    admin = KafkaSettings(
        bootstrap=broker.tls_bootstrap,
        topic="java.complaints.v1",
        security=KafkaSecurity.scram("admin", ADMIN_PASSWORD, tls_cafile=broker.cafile),
    )
    feeds = FeedSettings(
        bootstrap=admin.bootstrap,
        input_topic=admin.topic,
        router_topics="java.router",
        router_id="java-router",
        security=admin.security,
    )
    settings = Settings(database_url=f"sqlite:///{store}", reporter_pepper="p")
    app = open_app(settings, clock=lambda: NOW)
    try:
        small_directory(app)
        traffic(app, 8, NOW - timedelta(days=5))
        assert Relay(app.recorder, app.mapper, admin).run(follow=False).published > 0
        assert AgencyRouter(feeds).run(follow=False).delivered > 0
    finally:
        app.close()
    return KafkaSettings(
        bootstrap=admin.bootstrap, topic=feeds.feed(AGENCY), security=admin.security
    )


def run_example(built: Built, broker: OwnBroker, *args: str) -> list[dict[str, Any]]:
    assert broker.tls_bootstrap is not None and broker.cafile is not None
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("LAPOR_")}
    env = inherited | {
        "LAPOR_KAFKA_BOOTSTRAP": broker.tls_bootstrap,
        "LAPOR_KAFKA_SASL_PASSWORD": AGENCY_PASSWORD,  # user: agency-KEMENKES, the default
        "LAPOR_KAFKA_SSL_CAFILE": str(broker.cafile),
    }
    done = subprocess.run(
        built.command(AGENCY, *args), env=env, capture_output=True, text=True, timeout=240,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.timeout(1200)  # a first Maven build downloads its plugins; the broker starts
def test_the_java_example_reads_the_agency_feed_over_tls_with_scram(
    built: Built, secured: OwnBroker, tmp_path: Path
) -> None:
    feed = write_feed(secured, tmp_path / "store.sqlite3")
    expected = read_topic(feed)
    assert len(expected) > 1, "the traffic forwarded nothing to the agency"
    admin_endpoint = KafkaSettings(bootstrap=feed.bootstrap, security=feed.security)
    assert grant_agency(admin_endpoint, AGENCY, AGENCY_PASSWORD) == f"agency-{AGENCY}"

    printed = run_example(built, secured, "--max-records", str(len(expected)))

    assert len(printed) == len(expected)
    assert {r["topic"] for r in printed} == {feed.topic}
    by_position = {(r["partition"], r["offset"]): r for r in printed}
    assert sorted(by_position) == [(r.partition, r.offset) for r in expected], "each once"
    for record in expected:
        line = by_position[(record.partition, record.offset)]
        assert line["key"] == record.key.decode()
        assert line["headers"] == {k: v.decode() for k, v in record.headers}
        assert line["value"] == json.loads(record.value)
    for partition in {r["partition"] for r in printed}:  # printed in each partition's order
        offsets = [r["offset"] for r in printed if r["partition"] == partition]
        assert offsets == sorted(offsets)
    firsts = {r["key"]: r for r in reversed(printed)}  # each complaint's first record
    assert {r["headers"]["ce_type"] for r in firsts.values()} == {ASSIGNED}

    # The same group again: the offsets were committed after printing, nothing comes twice.
    assert run_example(built, secured, "--idle-seconds", "3") == []
