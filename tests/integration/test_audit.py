"""`lapor-es audit`: tamper with the store and the topic on purpose; each change is named.

Real PostgreSQL/SQLite and a real Kafka broker; the relay publishes the store first, then
the test changes a stored row (SQL on the recorder's table) or writes records onto the
topic with a plain producer, as an attacker with that access would.
"""

from __future__ import annotations

import json
import sqlite3
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from typer.testing import CliRunner

from lapor_es.aggregates.chain import payload_hash
from lapor_es.aggregates.complaint import complaint_id_for
from lapor_es.application import LaporApp
from lapor_es.audit.replay import (
    Selection,
    from_aggregate,
    replay_store,
    replay_topic,
)
from lapor_es.audit.verify import AuditReport, verify
from lapor_es.bootstrap import open_app
from lapor_es.cli import app as cli
from lapor_es.config import Settings, sqlite_path
from lapor_es.contract.chainstate import Finding
from lapor_es.contract.cloudevents import ce_id, ce_type
from lapor_es.contract.payloads import encode_payload
from lapor_es.kafka.relay import Relay, committed_position
from lapor_es.kafka.settings import KafkaSettings
from tests.conftest import NOW
from tests.support.builders import DESK, Driver, agency_actor, file_cmd, small_directory, traffic
from tests.support.kafka import read_topic

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# ------------------------------------------------------------------ helpers
def populate(lapor: LaporApp) -> list[str]:
    """Six complaints: i=0 3 events, i=1 4, i=2 6, i=3 2, i=4 3, i=5 4."""
    small_directory(lapor)
    return traffic(lapor, 6, NOW)


def publish(lapor: LaporApp, kafka: KafkaSettings) -> None:
    """Relay the store, then wait until a read_committed reader can see all of it: the
    broker writes the commit markers just after commit_transaction returns."""
    stats = Relay(lapor.recorder, lapor.mapper, kafka).run(follow=False)
    deadline = time.monotonic() + 60
    while committed_position(kafka) < stats.position:
        assert time.monotonic() < deadline, "the relay's last transaction never became visible"
        time.sleep(0.05)


def audit(lapor: LaporApp | None, kafka: KafkaSettings | None) -> AuditReport:
    return verify(
        kafka=kafka,
        recorder=lapor.recorder if lapor else None,
        mapper=lapor.mapper if lapor else None,
    )


def named(report: AuditReport) -> list[tuple[str, str, str | None, int]]:
    return [(f.kind, f.source, f.tracking_id, f.version) for f in report.findings]


def stored_position(lapor: LaporApp, tracking_id: str, version: int) -> int:
    from tests.support.kafka import stored_events

    cid = str(complaint_id_for(tracking_id))
    return next(p for p, c, v in stored_events(lapor) if c == cid and v == version)


class StoredRows:
    """Direct SQL on the recorder's events table: what someone with database access can do."""

    def __init__(self, settings: Settings, lapor: LaporApp) -> None:
        self.settings = settings
        self.table: str = lapor.recorder.events_table_name  # type: ignore[attr-defined]

    def _run(self, sql: str, complaint_id: UUID, version: int, *extra: Any) -> Any:
        if self.settings.is_sqlite:
            with sqlite3.connect(sqlite_path(self.settings.database_url)) as conn:
                rows = conn.execute(
                    sql.replace("%s", "?"), (*extra, complaint_id.hex, version)
                ).fetchall()
            return rows
        import psycopg

        with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
            cur = conn.execute(sql, (*extra, complaint_id, version))
            return cur.fetchall() if cur.description else []

    def state(self, complaint_id: UUID, version: int) -> bytes:
        rows = self._run(
            f"SELECT state FROM {self.table} WHERE originator_id = %s AND originator_version = %s",
            complaint_id,
            version,
        )
        return bytes(rows[0][0])

    def set_state(self, complaint_id: UUID, version: int, state: bytes) -> None:
        self._run(
            f"UPDATE {self.table} SET state = %s "
            "WHERE originator_id = %s AND originator_version = %s",
            complaint_id,
            version,
            state,
        )

    def delete(self, complaint_id: UUID, version: int) -> None:
        self._run(
            f"DELETE FROM {self.table} WHERE originator_id = %s AND originator_version = %s",
            complaint_id,
            version,
        )


def fresh_app(settings: Settings) -> LaporApp:
    """A new application on the tampered store (no aggregate cache from before)."""
    return open_app(settings, clock=lambda: NOW)


def record_of(payload: dict[str, Any], position: int) -> tuple[bytes, bytes, list[Any]]:
    """A well-formed CloudEvents record for a payload, as the relay would write it."""
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", ce_id(payload["complaint_id"], payload["version"]).encode()),
        ("ce_source", b"/lapor-es/complaints"),
        ("ce_type", ce_type(payload["type"]).encode()),
        ("ce_time", payload["at"].encode()),
        ("ce_subject", payload["tracking_id"].encode()),
        ("content-type", b"application/json"),
        ("ce_complaintversion", str(payload["version"]).encode()),
        ("ce_position", str(position).encode()),
        ("ce_eventhash", payload["event_hash"].encode()),
        ("ce_prevhash", payload["prev_hash"].encode()),
    ]
    return payload["complaint_id"].encode(), encode_payload(payload), headers


def rehash(payload: dict[str, Any], **changes: Any) -> dict[str, Any]:
    forged = {**payload, **changes}
    forged["event_hash"] = payload_hash(forged)
    return forged


# ------------------------------------------------------------------ clean
def test_clean_history_has_no_findings_and_exits_zero(
    lapor: LaporApp, settings: Settings, kafka: KafkaSettings
) -> None:
    populate(lapor)
    publish(lapor, kafka)

    report = audit(lapor, kafka)

    assert report.findings == []
    assert report.topic_events == report.store_events == 3 + 4 + 6 + 2 + 3 + 4
    assert report.not_yet_published == 0
    result = CliRunner().invoke(
        cli,
        ["audit", "verify", "--format", "json"],
        env={
            "LAPOR_DATABASE_URL": settings.database_url,
            "LAPOR_REPORTER_PEPPER": "test-pepper",
            "LAPOR_KAFKA_BOOTSTRAP": kafka.bootstrap,
            "LAPOR_KAFKA_TOPIC": kafka.topic,
        },
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["summary"]["ok"] is True


def test_events_stored_after_the_topic_head_are_not_yet_published_not_missing(
    lapor: LaporApp, kafka: KafkaSettings
) -> None:
    tracking = populate(lapor)
    publish(lapor, kafka)
    Driver(lapor, NOW + timedelta(days=2))(
        command="start", actor=agency_actor("KEMENSOS"), complaint=tracking[0]
    )

    report = audit(lapor, kafka)

    assert report.findings == []
    assert report.not_yet_published == 1


# ------------------------------------------------------------------ the store
def test_a_changed_byte_in_a_stored_event_is_named_modified(
    lapor: LaporApp, settings: Settings, kafka: KafkaSettings
) -> None:
    tracking = populate(lapor)
    publish(lapor, kafka)
    rows = StoredRows(settings, lapor)
    target = complaint_id_for(tracking[1])
    state = rows.state(target, 2)  # Verified, title "Laporan 1"
    at = state.index(b"Laporan 1") + len("Laporan ")
    rows.set_state(target, 2, state[:at] + b"7" + state[at + 1 :])
    broken = complaint_id_for(tracking[2])
    rows.set_state(broken, 3, b"\x00" + rows.state(broken, 3)[1:])  # no longer decodes
    positions = (stored_position(lapor, tracking[1], 2), stored_position(lapor, tracking[2], 3))

    app = fresh_app(settings)
    try:
        report = audit(app, kafka)
    finally:
        app.close()

    assert named(report) == [
        ("modified", "store", tracking[1], 2),
        ("modified", "store", tracking[2], 3),
    ]
    changed, undecodable = report.findings
    assert changed.complaint_id == str(target)
    assert changed.position == positions[0]
    assert "does not match its event_hash" in changed.detail
    assert undecodable.position == positions[1]
    assert "does not decode" in undecodable.detail


def test_a_deleted_stored_event_is_named_missing(
    lapor: LaporApp, settings: Settings, kafka: KafkaSettings
) -> None:
    tracking = populate(lapor)
    publish(lapor, kafka)
    StoredRows(settings, lapor).delete(complaint_id_for(tracking[2]), 3)

    app = fresh_app(settings)
    try:
        report = audit(app, kafka)
        store_only = audit(app, None)
    finally:
        app.close()

    # SQLite never leaves a hole in its positions, so the deletion shows there twice;
    # PostgreSQL's holes are explained (rolled-back inserts) and the chain says it.
    hole = [("position_gap", "store", None, 0)] if settings.is_sqlite else []
    assert named(report) == [("missing", "store", tracking[2], 3), *hole]
    assert named(store_only) == [("missing", "store", tracking[2], 3), *hole]
    # Found where the chain resumed: version 4's position.
    assert report.findings[0].position is not None


# ------------------------------------------------------------------ the topic
@SQLITE_ONLY
def test_forged_records_on_the_topic_are_named_forged(
    lapor: LaporApp, kafka: KafkaSettings
) -> None:
    tracking = populate(lapor)
    publish(lapor, kafka)
    records = {
        (r.key.decode(), int(r.attributes["complaintversion"])): r for r in read_topic(kafka)
    }
    last = json.loads(records[(str(complaint_id_for(tracking[2])), 6)].value)
    verified = json.loads(records[(str(complaint_id_for(tracking[1])), 2)].value)
    # A seventh event with a correct hash of its own that links to nothing.
    appended = rehash(last, version=7, prev_hash="ab" * 32, note="ditutup paksa")
    # Another version 2, with a different title, correctly linked and hashed.
    rewritten = rehash(verified, title="Laporan lain")
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    for payload, position in ((appended, 999), (rewritten, 998)):
        key, value, headers = record_of(payload, position)
        producer.send(kafka.topic, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()

    report = audit(lapor, kafka)

    assert sorted(named(report)) == [
        ("forged", "topic", tracking[1], 2),
        ("forged", "topic", tracking[2], 7),
    ]
    by_version = {f.version: f for f in report.findings}
    assert "does not link" in by_version[7].detail
    assert "different content" in by_version[2].detail
    assert by_version[7].partition is not None and by_version[7].offset is not None
    topic_only = audit(None, kafka)
    assert sorted(named(topic_only)) == sorted(named(report))


@SQLITE_ONLY
def test_a_record_whose_envelope_disagrees_with_its_payload_is_forged(
    lapor: LaporApp, kafka: KafkaSettings
) -> None:
    tracking = populate(lapor)
    publish(lapor, kafka)
    original = next(
        r
        for r in read_topic(kafka)
        if r.key.decode() == str(complaint_id_for(tracking[0]))
        and r.attributes["complaintversion"] == "1"
    )
    headers = [(n, b"9" if n == "ce_complaintversion" else v) for n, v in original.headers]
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    producer.send(kafka.topic, key=original.key, value=original.value, headers=headers)
    producer.flush()
    producer.close()

    report = audit(None, kafka)

    kinds = named(report)
    assert ("forged", "topic", tracking[0], 1) in kinds
    envelope = next(f for f in report.findings if "envelope" in f.detail)
    assert "ce_complaintversion='9'" in envelope.detail


@SQLITE_ONLY
def test_two_swapped_records_are_named_reordered(lapor: LaporApp, kafka: KafkaSettings) -> None:
    tracking = populate(lapor)
    publish(lapor, kafka)
    copy = replace(kafka, topic=f"{kafka.topic}.reordered", transactional_id="unused")
    admin = KafkaAdminClient(bootstrap_servers=kafka.bootstrap)
    admin.create_topics(
        [NewTopic(copy.topic, num_partitions=kafka.partitions, replication_factor=1)]
    )
    admin.close()
    target = str(complaint_id_for(tracking[2]))
    records = read_topic(kafka)
    third = next(
        i
        for i, r in enumerate(records)
        if r.key.decode() == target and r.attributes["complaintversion"] == "3"
    )
    fourth = next(
        i
        for i, r in enumerate(records)
        if r.key.decode() == target and r.attributes["complaintversion"] == "4"
    )
    records[third], records[fourth] = records[fourth], records[third]
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    for r in records:
        producer.send(
            copy.topic, key=r.key, value=r.value, headers=r.headers, partition=r.partition
        )
    producer.flush()
    producer.close()

    report = audit(lapor, copy)

    assert named(report) == [("reordered", "topic", tracking[2], 3)]
    assert "after version 4" in report.findings[0].detail
    assert report.findings[0].partition == records[fourth].partition


def test_findings_carry_every_field() -> None:
    finding = Finding("c", "LAP-2026-0000001", 3, "store", "missing", "gone", position=12)
    assert finding.where == "position 12"
    assert finding.as_dict()["kind"] == "missing"


# ------------------------------------------------------------------ as-of replay
def test_as_of_replay_matches_the_live_state_and_an_earlier_one(
    lapor: LaporApp, kafka: KafkaSettings
) -> None:
    small_directory(lapor)
    run = Driver(lapor, NOW)
    out = run(**file_cmd())  # NOW+1h
    tid = str(out.tracking_id)
    run(  # NOW+2h: Verified + Forwarded to KEMENKES
        command="verify",
        actor=DESK,
        complaint=tid,
        title="Air PDAM",
        category="Air Bersih",
        kind="complaint",
        visibility="public",
        to_agency="KEMENKES",
    )
    run(  # NOW+3h: down to its unit
        command="forward",
        actor=agency_actor("KEMENKES"),
        complaint=tid,
        to_agency="KEMENKES.YANKES",
    )
    run(command="start", actor=agency_actor("KEMENKES.YANKES"), complaint=tid)  # NOW+4h
    run(  # NOW+5h
        command="respond",
        actor=agency_actor("KEMENKES.YANKES"),
        complaint=tid,
        kind="final",
        text="Sudah diperbaiki",
    )
    traffic(lapor, 3, NOW + timedelta(days=1), seed="other")
    publish(lapor, kafka)
    history = lapor.history(complaint_id_for(tid))
    forwarded_due = history[2].follow_up_due_at  # type: ignore[attr-defined]
    cid = str(complaint_id_for(tid))
    later = NOW + timedelta(days=30)
    early = NOW + timedelta(hours=2, minutes=30)

    live = from_aggregate(lapor.complaint(tid))
    for replayed in (
        replay_store(lapor.recorder, lapor.mapper, later),
        replay_topic(kafka, later),
    ):
        assert replayed.states[cid] == live
        assert len(replayed.states) == 4

    for replayed in (
        replay_store(lapor.recorder, lapor.mapper, early, Selection(complaint_id=cid)),
        replay_store(
            lapor.recorder,
            lapor.mapper,
            early,
            Selection(complaint_id=cid),
            get_history=lapor.repository.event_store.get,
        ),
        replay_topic(kafka, early, Selection(complaint_id=cid)),
    ):
        (state,) = replayed.selected(Selection(complaint_id=cid))
        assert (state.version, state.state, state.holder_chain) == (3, "FORWARDED", ("KEMENKES",))
        assert state.bucket == "Terdisposisi, Belum Ditindaklanjuti"
        assert (state.clock, state.clock_started_at, state.due_at) == (
            "follow_up",
            NOW + timedelta(hours=2),
            forwarded_due,
        )
        assert not state.overdue(early)

    inbox = Selection(agency="KEMENKES.YANKES")
    assert replay_store(lapor.recorder, lapor.mapper, early).selected(inbox) == []
    at_unit = replay_topic(kafka, NOW + timedelta(hours=3, minutes=30)).selected(inbox)
    assert [s.tracking_id for s in at_unit] == [tid]
    assert at_unit[0].holder_chain == ("KEMENKES", "KEMENKES.YANKES")
    before_filing = replay_topic(kafka, NOW, Selection(complaint_id=cid))
    assert before_filing.states == {}


# ------------------------------------------------------------------ bundles
def signing_key(tmp_path: Path) -> tuple[Path, Path]:
    key = Ed25519PrivateKey.generate()
    private, public = tmp_path / "signer.pem", tmp_path / "signer.pub.pem"
    private.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return private, public


def test_export_and_check_bundle_round_trip_and_a_changed_byte_fails(
    lapor: LaporApp, settings: Settings, tmp_path: Path
) -> None:
    tracking = populate(lapor)
    private, public = signing_key(tmp_path)
    env = {
        "LAPOR_DATABASE_URL": settings.database_url,
        "LAPOR_REPORTER_PEPPER": "test-pepper",
        "LAPOR_AUDIT_SIGNING_KEY": str(private),
    }
    runner = CliRunner()
    one = tmp_path / "one"
    exported = runner.invoke(
        cli, ["audit", "export", "--complaint", tracking[2], "--out", str(one)], env=env
    )
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["events"] == 6
    lines = (one / "events.jsonl").read_bytes().splitlines()
    assert [json.loads(line)["version"] for line in lines] == [1, 2, 3, 4, 5, 6]
    manifest = json.loads((one / "manifest.json").read_text())
    assert manifest["complaints"][0]["tracking_id"] == tracking[2]
    assert manifest["complaints"][0]["head_hash"] == json.loads(lines[-1])["event_hash"]

    ok = runner.invoke(cli, ["audit", "check-bundle", str(one), "--public-key", str(public)])
    assert ok.exit_code == 0, ok.output
    assert "OK: 1 complaints, 6 events" in ok.stdout

    cohort = tmp_path / "cohort.zip"
    day = NOW.date().isoformat()
    exported = runner.invoke(
        cli, ["audit", "export", "--from", day, "--to", day, "--out", str(cohort)], env=env
    )
    assert exported.exit_code == 0, exported.output
    assert json.loads(exported.stdout)["complaints"] == 6
    ok = runner.invoke(cli, ["audit", "check-bundle", str(cohort), "--public-key", str(public)])
    assert ok.exit_code == 0, ok.output

    events = one / "events.jsonl"
    data = events.read_bytes()
    at = data.index(b"Terima kasih")
    events.write_bytes(data[:at] + b"t" + data[at + 1 :])
    failed = runner.invoke(cli, ["audit", "check-bundle", str(one), "--public-key", str(public)])
    assert failed.exit_code == 1
    assert "events were changed after export" in failed.stdout
    assert f"modified: complaint {tracking[2]} version 5" in failed.stdout

    (tmp_path / "other").mkdir()
    stranger = signing_key(tmp_path / "other")[1]
    events.write_bytes(data)
    wrong_key = runner.invoke(
        cli, ["audit", "check-bundle", str(one), "--public-key", str(stranger)]
    )
    assert wrong_key.exit_code == 1
    assert "not a valid signature" in wrong_key.stdout
