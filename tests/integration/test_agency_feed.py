"""The agency router on a real Kafka broker: each agency feed gets exactly what it may see,
in order, exactly once (also under SIGKILL), and a poison record parks its complaint only."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from kafka import KafkaProducer

from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from lapor_es.contract import from_record
from lapor_es.contract.feeds import ComplaintAssigned, ComplaintLeft, feed_ce_id
from lapor_es.feeds import AgencySubscriber
from lapor_es.feeds.router import (
    AgencyRouter,
    FeedSettings,
    parked_records,
    request_retry,
)
from lapor_es.feeds.routing import ComplaintRoute, route
from lapor_es.feeds.subscriber import FeedEvent, agency_group
from lapor_es.kafka.relay import Relay
from lapor_es.kafka.settings import KafkaSettings
from tests.conftest import NOW
from tests.support.builders import DESK, Driver, agency_actor, file_cmd, small_directory, traffic
from tests.support.kafka import Read, read_topic

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


@pytest.fixture
def app(tmp_path: Path) -> Iterator[LaporApp]:
    # Routing does not depend on the store: the embedded one is enough here.
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
        feed_prefix=f"test.agency.{suffix}.",
        router_topics=f"test.router.{suffix}",
        router_id=f"test-router-{suffix}",
        feed_partitions=2,
    )


def relay(app: LaporApp, kafka: KafkaSettings) -> None:
    Relay(app.recorder, app.mapper, kafka, batch_size=50).run(follow=False)


def feed_records(feeds: FeedSettings, agency: str) -> list[Read]:
    return read_topic(KafkaSettings(bootstrap=feeds.bootstrap, topic=feeds.feed(agency)))


def by_complaint(records: list[Read]) -> dict[str, list[str]]:
    """Complaint id -> short names of its feed records, in feed order."""
    out: dict[str, list[str]] = defaultdict(list)
    for r in records:  # (partition, offset) order; a complaint is in one partition
        payload = json.loads(r.value)
        name = {"ComplaintAssigned": "assigned", "ComplaintLeft": "left"}.get(
            payload["type"], payload["type"]
        )
        out[r.key.decode()].append(f"{name}@{payload['version']}")
    return dict(out)


def scenario(app: LaporApp) -> tuple[str, str]:
    """A: KEMENKES -> unit YANKES, declined twice back to the desk, then KEMENSOS.
    B (anonymous): KEMENSOS -> unit LINJAMSOS, which starts work."""
    run = Driver(app, NOW - timedelta(days=10))
    a = str(run(**file_cmd(title="Puskesmas tutup")).tracking_id)
    b = str(run(**file_cmd(title="Bansos tidak cair", visibility="anonymous")).tracking_id)
    verify = {"command": "verify", "actor": DESK, "category": "Kesehatan", "kind": "complaint"}
    run(**verify, complaint=a, title="Puskesmas tutup", visibility="public", to_agency="KEMENKES")
    kes = agency_actor("KEMENKES")
    run(command="forward", actor=kes, complaint=a, to_agency="KEMENKES.YANKES")
    run(
        command="decline",
        actor=agency_actor("KEMENKES.YANKES"),
        complaint=a,
        reason="Bukan wewenang unit ini",
    )
    run(command="decline", actor=kes, complaint=a, reason="Wewenang Kemensos")
    run(command="forward", actor=DESK, complaint=a, to_agency="KEMENSOS")
    run(command="start", actor=agency_actor("KEMENSOS"), complaint=a)
    run(**verify, complaint=b, title="Bansos", visibility="anonymous", to_agency="KEMENSOS")
    sos = agency_actor("KEMENSOS")
    run(command="forward", actor=sos, complaint=b, to_agency="KEMENSOS.LINJAMSOS")
    run(command="start", actor=agency_actor("KEMENSOS.LINJAMSOS"), complaint=b)
    return str(app.complaint(a).id), str(app.complaint(b).id)


def test_each_feed_gets_exactly_what_its_agency_may_see(
    app: LaporApp, kafka: KafkaSettings, feeds: FeedSettings
) -> None:
    a, b = scenario(app)
    relay(app, kafka)
    stats = AgencyRouter(feeds, batch_size=7).run(follow=False)
    assert stats.parked == 0 and stats.consumed == 13

    # A: Filed 1, Verified 2, Forwarded 3 (KEMENKES), Forwarded 4 (YANKES), Declined 5 (by
    # YANKES), Declined 6 (by KEMENKES), Forwarded 7 (KEMENSOS), WorkStarted 8.
    # B: Filed 1, Verified 2, Forwarded 3 (KEMENSOS), Forwarded 4 (LINJAMSOS), WorkStarted 5.
    expected = {
        "KEMENKES": {a: ["assigned@3", "Forwarded@4", "ForwardingDeclined@5",
                         "ForwardingDeclined@6", "left@6"]},
        "KEMENKES.YANKES": {a: ["assigned@4", "ForwardingDeclined@5", "left@5"]},
        "KEMENSOS": {
            a: ["assigned@7", "WorkStarted@8"],
            b: ["assigned@3", "Forwarded@4", "WorkStarted@5"],  # the parent sees its unit's
        },
        "KEMENSOS.LINJAMSOS": {b: ["assigned@4", "WorkStarted@5"]},
        "KEMENKES.ITJEN": {},
        "PROV-JABAR": {},
    }  # fmt: skip
    for agency, complaints in expected.items():
        assert by_complaint(feed_records(feeds, agency)) == complaints, agency

    # Later events reach the current holders only; nothing more after "left".
    run = Driver(app, NOW - timedelta(days=2))
    tid = app.complaint(a).tracking_id
    run(
        command="respond",
        actor=agency_actor("KEMENSOS"),
        complaint=tid,
        kind="interim",
        text="Sedang diproses",
    )
    relay(app, kafka)
    assert AgencyRouter(feeds).run(follow=False).state_complaints == 2  # state from the topic
    assert by_complaint(feed_records(feeds, "KEMENSOS"))[a][-1] == "Responded@9"
    assert by_complaint(feed_records(feeds, "KEMENKES"))[a][-1] == "left@6"
    assert by_complaint(feed_records(feeds, "KEMENKES.YANKES"))[a][-1] == "left@5"

    # Passed-through events are byte for byte the main topic's records; assignments are
    # CloudEvents of the feed contract with the content as the agency may see it.
    main = {r.attributes["id"]: r for r in read_topic(kafka)}
    for r in feed_records(feeds, "KEMENSOS"):
        attrs = r.attributes
        if attrs["type"].startswith("id.go.lapor.complaint."):
            assert (r.key, r.value, r.headers) == (
                main[attrs["id"]].key,
                main[attrs["id"]].value,
                main[attrs["id"]].headers,
            )
            continue
        assert attrs["specversion"] == "1.0" and attrs["source"] == "/lapor-es/agency-router"
        assert attrs["content-type"] == "application/json" and attrs["agency"] == "KEMENSOS"
        payload = json.loads(r.value)
        assert attrs["id"] == f"{r.key.decode()}:{payload['version']}:assigned"
        assert payload["agency"] == "KEMENSOS" and r.key.decode() == payload["complaint_id"]
        if r.key.decode() == b:
            assert attrs["type"] == "id.go.lapor.agency.complaint_assigned.v1"
            assert payload["visibility"] == "anonymous"
            assert payload["reporter_display"] == "Anonim"
            assert payload["title"] == "Bansos" and payload["holder"] == "KEMENSOS"
        else:
            assert payload["reporter_display"] is None and payload["from_agency"] is None
            assert payload["description"].startswith("Sudah dua minggu")
    left = json.loads(feed_records(feeds, "KEMENKES.YANKES")[-1].value)
    assert left["type"] == "ComplaintLeft" and left["reason"] == "declined"

    # The client: typed events, resumable from the group's committed offsets.
    group = agency_group("KEMENSOS.LINJAMSOS", "t")
    seen: list[FeedEvent] = []
    with AgencySubscriber(feeds.bootstrap, "KEMENSOS.LINJAMSOS", group,
                          topic_prefix=feeds.feed_prefix) as sub:  # fmt: skip
        for event in sub.events(until_idle=True):
            seen.append(event)
            break  # stop inside the body: that record is not committed
    assert isinstance(seen[0].payload, ComplaintAssigned) and seen[0].kind == "assigned"
    with AgencySubscriber(feeds.bootstrap, "KEMENSOS.LINJAMSOS", group,
                          topic_prefix=feeds.feed_prefix) as sub:  # fmt: skip
        again = list(sub.events(until_idle=True))
    assert [e.ce_id for e in again] == [seen[0].ce_id, f"{b}:5"]  # redelivered, then the rest
    assert again[1].kind == "event" and again[1].payload.type == "WorkStarted"
    with AgencySubscriber(feeds.bootstrap, "KEMENSOS.LINJAMSOS", group,
                          topic_prefix=feeds.feed_prefix) as sub:  # fmt: skip
        assert sub.run(lambda e: None, until_idle=True) == 0  # all committed
    with AgencySubscriber(feeds.bootstrap, "KEMENKES.YANKES", agency_group("KEMENKES.YANKES", "t"),
                          topic_prefix=feeds.feed_prefix) as sub:  # fmt: skip
        kinds = [e.kind for e in sub.events(until_idle=True)]
    assert kinds == ["assigned", "event", "left"]
    assert isinstance(list(sub_payloads(feeds, "KEMENKES.YANKES"))[-1], ComplaintLeft)


def sub_payloads(feeds: FeedSettings, agency: str) -> Iterator[Any]:
    with AgencySubscriber(
        feeds.bootstrap, agency, agency_group(agency, "other"), topic_prefix=feeds.feed_prefix
    ) as sub:
        for event in sub.events(until_idle=True):
            yield event.payload


def expected_from_main_topic(kafka: KafkaSettings) -> dict[str, dict[str, list[str]]]:
    """Agency -> complaint -> ce_ids, by applying the routing rules to the main topic."""
    states: dict[str, ComplaintRoute] = {}
    out: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for r in read_topic(kafka):
        cid = r.key.decode()
        for o in route(states.setdefault(cid, ComplaintRoute()), from_record(r.value, r.headers)):
            ce = r.attributes["id"] if o.payload is None else feed_ce_id(o.payload)
            out[o.agency][cid].append(ce)
    return out


def ce_ids(feeds: FeedSettings, agency: str) -> dict[str, list[str]]:
    out: dict[str, list[str]] = defaultdict(list)
    for r in feed_records(feeds, agency):
        out[r.key.decode()].append(r.attributes["id"])
    return dict(out)


def router_process(feeds: FeedSettings, *args: str) -> subprocess.Popen[str]:
    env = os.environ | {
        "LAPOR_KAFKA_BOOTSTRAP": feeds.bootstrap,
        "LAPOR_KAFKA_TOPIC": feeds.input_topic,
        "LAPOR_FEEDS_TOPIC_PREFIX": feeds.feed_prefix,
        "LAPOR_FEEDS_ROUTER_TOPICS": feeds.router_topics,
        "LAPOR_FEEDS_ROUTER_ID": feeds.router_id,
        "LAPOR_FEEDS_PARTITIONS": str(feeds.feed_partitions),
        "LAPOR_LOG_FORMAT": "json",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "lapor_es.cli", "feeds", "route", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def uncommitted_count(feeds: FeedSettings, agencies: list[str]) -> int:
    total = 0
    for agency in agencies:
        topic = KafkaSettings(bootstrap=feeds.bootstrap, topic=feeds.feed(agency))
        total += len(read_topic(topic, isolation="read_uncommitted"))
    return total


def test_exactly_once_when_the_router_is_killed_mid_batch(
    app: LaporApp, kafka: KafkaSettings, feeds: FeedSettings
) -> None:
    traffic(app, 80, NOW - timedelta(days=30))
    relay(app, kafka)
    agencies = ["KEMENKES", "KEMENSOS"]
    expected = expected_from_main_topic(kafka)
    total = sum(len(v) for a in agencies for v in expected[a].values())
    # Two kills, at a fifth and at half of the feed records (counting aborted ones too), so
    # the router always has work left after the second kill however fast it runs.
    for threshold in (total // 5, total // 2):
        proc = router_process(feeds, "--follow", "--batch-size", "3")
        try:
            deadline = time.monotonic() + 120
            while uncommitted_count(feeds, agencies) < threshold:
                assert proc.poll() is None, proc.communicate()[1][-3000:]
                assert time.monotonic() < deadline, "router produced nothing"
                time.sleep(0.05)
        finally:
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
    done = router_process(feeds, "--until-caught-up", "--batch-size", "50")
    out, err = done.communicate(timeout=180)
    assert done.returncode == 0, err[-3000:]
    final = json.loads(out.splitlines()[-1])
    assert final["parked"] == 0 and final["consumed"] > 0  # the kills left work to do

    assert set(expected) == set(agencies)
    for agency in agencies:
        actual = ce_ids(feeds, agency)
        assert actual == expected[agency], agency  # same records, same order, no duplicates
    assert total >= 120


def test_a_poison_record_parks_its_complaint_and_the_rest_go_on(
    app: LaporApp, kafka: KafkaSettings, feeds: FeedSettings
) -> None:
    run = Driver(app, NOW - timedelta(days=10))
    tids = [str(run(**file_cmd(title=f"Laporan {i}")).tracking_id) for i in range(2)]
    for tid in tids:
        run(command="verify", actor=DESK, complaint=tid, title="Laporan", category="Kesehatan",
            kind="complaint", visibility="public", to_agency="KEMENKES")  # fmt: skip
    relay(app, kafka)
    AgencyRouter(feeds).run(follow=False)
    x, y = (str(app.complaint(t).id) for t in tids)

    # By hand, a record the router cannot decode, keyed as complaint x.
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap, acks="all")
    headers = [("ce_specversion", b"1.0"), ("ce_type", b"id.go.lapor.complaint.filed.v1")]
    producer.send(kafka.topic, key=x.encode(), value=b"{not json", headers=headers).get(30)
    producer.close()
    kes = agency_actor("KEMENKES")
    for tid in tids:
        run(command="start", actor=kes, complaint=tid)
        run(command="respond", actor=kes, complaint=tid, kind="interim", text="Diproses")
    relay(app, kafka)
    stats = AgencyRouter(feeds).run(follow=False)
    assert stats.parked == 3  # the poison and x's two later records behind it

    feed = by_complaint(feed_records(feeds, "KEMENKES"))
    assert feed[y] == ["assigned@3", "WorkStarted@4", "Responded@5"]  # y goes on
    assert feed[x] == ["assigned@3"]  # x waits
    parked = parked_records(feeds)
    assert list(parked) == [x]
    assert [p.error is not None for p in parked[x]] == [True, False, False]
    assert "JSON" in (parked[x][0].error or "") or "json" in (parked[x][0].error or "")
    assert parked[x][0].topic == kafka.topic and parked[x][0].offset < parked[x][1].offset
    dlq = read_topic(KafkaSettings(bootstrap=feeds.bootstrap, topic=feeds.dlq_topic))
    assert [r.attributes["dlq_blocked"] for r in dlq] == ["false", "true", "true"]
    assert {r.attributes["dlq_offset"] for r in dlq} == {str(p.offset) for p in parked[x]}

    # A plain retry fails on the same record again: still parked, still in order.
    request_retry(feeds)
    AgencyRouter(feeds).run(follow=False)
    assert [p.offset for p in parked_records(feeds)[x]] == [p.offset for p in parked[x]]
    assert by_complaint(feed_records(feeds, "KEMENKES"))[x] == ["assigned@3"]

    # Discarding the poison releases the records behind it, in order.
    request_retry(feeds, x, skip_failed=True)
    AgencyRouter(feeds).run(follow=False)
    assert parked_records(feeds) == {}
    feed = by_complaint(feed_records(feeds, "KEMENKES"))
    assert feed[x] == ["assigned@3", "WorkStarted@4", "Responded@5"]
    assert feed[y] == ["assigned@3", "WorkStarted@4", "Responded@5"]
