"""examples/java-consumer, built with Maven and run as an agency would run it: on a secured
broker of the test's own (Kafka 4, SASL/SCRAM-SHA-512 over TLS, deny by default), the agency's
user reads its feed, as written by the real relay and router, with kafka-clients of the
brokers' version, and prints every record once as a JSON line; a second run in the same group
prints nothing (the offsets were committed). In CI a missing `java` or `mvn` fails the test.

On the same feed, examples/kcat-feed.sh: kcat with librdkafka 2.6.1 or later reads it; with an
older librdkafka (Debian 12's 2.0.2) the script refuses and kcat itself fails the SCRAM login.
Outside CI these two skip where kcat (or a librdkafka of the version they need) is missing;
in CI they fail: `.ci/run` installs Debian's kcat and fetches librdkafka 2.6.1+ with
deploy/kcat/librdkafka."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
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
from tests.support.kafka import OwnBroker, Read, own_broker, read_topic
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


@dataclass(frozen=True)
class Feed:
    """The agency's feed topic, readable by the admin, and its records as the admin reads them."""

    admin: KafkaSettings
    records: list[Read]


@pytest.fixture(scope="module")
def feed(secured: OwnBroker, tmp_path_factory: pytest.TempPathFactory) -> Feed:
    """Complaints filed and forwarded in a store, relayed and routed to the agencies' feeds
    over TLS as the admin; then the agency's user and its grants (`lapor-es feeds grant`)."""
    assert secured.tls_bootstrap is not None and secured.cafile is not None
    admin = KafkaSettings(
        bootstrap=secured.tls_bootstrap,
        topic="java.complaints.v1",
        security=KafkaSecurity.scram("admin", ADMIN_PASSWORD, tls_cafile=secured.cafile),
    )
    feeds = FeedSettings(
        bootstrap=admin.bootstrap,
        input_topic=admin.topic,
        router_topics="java.router",
        router_id="java-router",
        security=admin.security,
    )
    store = tmp_path_factory.mktemp("java-store") / "store.sqlite3"
    app = open_app(
        Settings(database_url=f"sqlite:///{store}", reporter_pepper="p"), clock=lambda: NOW
    )
    try:
        small_directory(app)
        traffic(app, 8, NOW - timedelta(days=5))
        assert Relay(app.recorder, app.mapper, admin).run(follow=False).published > 0
        assert AgencyRouter(feeds).run(follow=False).delivered > 0
    finally:
        app.close()
    assert grant_agency(admin, AGENCY, AGENCY_PASSWORD) == f"agency-{AGENCY}"
    agency_feed = replace(admin, topic=feeds.feed(AGENCY))
    records = read_topic(agency_feed)
    assert len(records) > 1, "the traffic forwarded nothing to the agency"
    return Feed(agency_feed, records)


def agency_env(broker: OwnBroker) -> dict[str, str]:
    """The environment of an agency's client: its settings only, none of the test run's."""
    assert broker.tls_bootstrap is not None and broker.cafile is not None
    inherited = {k: v for k, v in os.environ.items() if not k.startswith("LAPOR_")}
    return inherited | {
        "LAPOR_KAFKA_BOOTSTRAP": broker.tls_bootstrap,
        "LAPOR_KAFKA_SASL_PASSWORD": AGENCY_PASSWORD,  # user: agency-KEMENKES, the default
        "LAPOR_KAFKA_SSL_CAFILE": str(broker.cafile),
    }


def run_example(built: Built, broker: OwnBroker, *args: str) -> list[dict[str, Any]]:
    done = subprocess.run(
        built.command(AGENCY, *args), env=agency_env(broker), capture_output=True, text=True,
        timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.timeout(1200)  # a first Maven build downloads its plugins; the broker starts
def test_the_java_example_reads_the_agency_feed_over_tls_with_scram(
    built: Built, secured: OwnBroker, feed: Feed
) -> None:
    expected = feed.records
    printed = run_example(built, secured, "--max-records", str(len(expected)))

    assert len(printed) == len(expected)
    assert {r["topic"] for r in printed} == {feed.admin.topic}
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


# ------------------------------------------------------------------- kcat, on the same feed
KCAT_SCRIPT = EXAMPLE.parent / "kcat-feed.sh"
# A folder with a librdkafka.so.1 of 2.6.1 or later for kcat (e.g. the one bundled in the
# confluent-kafka wheel), for a machine whose kcat links an older one: Debian 12's has 2.0.2.
LIBRDKAFKA_DIR = "LAPOR_TEST_LIBRDKAFKA_DIR"
SCRAM_REFUSED = (
    "SASL authentication error: Authentication failed during authentication due to invalid "
    "credentials with SASL mechanism SCRAM-SHA-512"
)


def kcat_env(broker: OwnBroker, library_dir: str | None) -> dict[str, str]:
    env = agency_env(broker)
    if library_dir:
        env["LD_LIBRARY_PATH"] = f"{library_dir}:{env.get('LD_LIBRARY_PATH', '')}"
    return env


def librdkafka_version(env: dict[str, str]) -> tuple[int, ...]:
    """The librdkafka that kcat loads with this environment (`kcat -V`)."""
    if shutil.which("kcat") is None:
        missing("kcat is not installed (Debian: apt-get install kcat)")
    shown = subprocess.run(
        ["kcat", "-V"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    found = re.search(r"librdkafka (\d+(?:\.\d+)*)", shown.stdout + shown.stderr)
    assert found is not None, shown.stdout + shown.stderr
    return tuple(int(part) for part in found.group(1).split("."))


def test_kcat_with_librdkafka_2_6_1_or_later_reads_the_feed_with_the_example_script(
    secured: OwnBroker, feed: Feed
) -> None:
    env = kcat_env(secured, os.environ.get(LIBRDKAFKA_DIR))
    if librdkafka_version(env) < (2, 6, 1):
        missing(f"kcat's librdkafka is older than 2.6.1; set {LIBRDKAFKA_DIR}")
    done = subprocess.run(
        ["bash", str(KCAT_SCRIPT), AGENCY, "-e"], env=env, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.strip()]
    printed = {(r["partition"], r["offset"]): r for r in lines}
    assert len(lines) == len(printed), "a record printed twice"
    assert sorted(printed) == [(r.partition, r.offset) for r in feed.records]
    for record in feed.records:
        line = printed[(record.partition, record.offset)]
        assert line["key"] == record.key.decode()
        headers = line["headers"]  # kcat -J: [name, value, name, value, ...]
        assert list(zip(headers[::2], headers[1::2], strict=True)) == [
            (k, v.decode()) for k, v in record.headers
        ]
        assert json.loads(line["payload"]) == json.loads(record.value)


def test_kcat_with_an_older_librdkafka_fails_every_scram_login_to_kafka_4(
    secured: OwnBroker, feed: Feed
) -> None:
    """What docs/agency-integration.md warns of: same user, same password, refused."""
    env = kcat_env(secured, None)
    if librdkafka_version(env) >= (2, 6, 1):
        # Not a missing tool: a distribution whose kcat is already fixed has nothing to show.
        pytest.skip("this kcat's own librdkafka has the SCRAM fix (2.6.1 or later)")
    refused = subprocess.run(
        ["bash", str(KCAT_SCRIPT), AGENCY, "-e"], env=env, capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert refused.returncode == 2
    assert "SCRAM against Kafka 4 needs 2.6.1 or later" in refused.stderr
    # The script's check is not the only obstacle: kcat itself, given the settings, fails.
    settings = [
        "security.protocol=SASL_SSL",
        "sasl.mechanism=SCRAM-SHA-512",
        f"sasl.username=agency-{AGENCY}",
        f"sasl.password={AGENCY_PASSWORD}",
        f"ssl.ca.location={secured.cafile}",
    ]
    direct = subprocess.run(
        ["kcat", "-b", env["LAPOR_KAFKA_BOOTSTRAP"], "-C", "-t", feed.admin.topic, "-e",
         *[arg for s in settings for arg in ("-X", s)]],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert direct.returncode != 0 and direct.stdout == ""
    assert SCRAM_REFUSED in direct.stderr, direct.stderr[-2000:]
