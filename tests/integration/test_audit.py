"""`lapor-es audit`: tamper with the store and the topic on purpose; each change is named.

Real PostgreSQL/SQLite and a real Kafka broker; the relay publishes the store first, then
the test changes a stored row (SQL on the recorder's table) or writes records onto the
topic with a plain producer, as an attacker with that access would.
"""

from __future__ import annotations

import copy
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

from lapor_es.aggregates import Complaint
from lapor_es.aggregates.chain import payload_hash
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
    """Six complaints: i=0 3 events, i=1 5, i=2 7, i=3 2, i=4 4, i=5 5 (i=1, 2, 4 and 5 are
    filed anonymous and verified public: VisibilityChanged at version 2)."""
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

    cid = str(lapor.complaint_id_for(tracking_id))
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
    assert report.topic_events == report.store_events == 3 + 5 + 7 + 2 + 4 + 5
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
    target = lapor.complaint_id_for(tracking[1])
    state = rows.state(target, 3)  # Verified, title "Laporan 1"
    at = state.index(b"Laporan 1") + len("Laporan ")
    rows.set_state(target, 3, state[:at] + b"7" + state[at + 1 :])
    broken = lapor.complaint_id_for(tracking[2])
    rows.set_state(broken, 3, b"\x00" + rows.state(broken, 3)[1:])  # no longer decodes
    positions = (stored_position(lapor, tracking[1], 3), stored_position(lapor, tracking[2], 3))

    app = fresh_app(settings)
    try:
        report = audit(app, kafka)
    finally:
        app.close()

    assert named(report) == [
        ("modified", "store", tracking[1], 3),
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
    StoredRows(settings, lapor).delete(lapor.complaint_id_for(tracking[2]), 3)

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
    last = json.loads(records[(str(lapor.complaint_id_for(tracking[2])), 7)].value)
    verified = json.loads(records[(str(lapor.complaint_id_for(tracking[1])), 3)].value)
    # An eighth event with a correct hash of its own that links to nothing.
    appended = rehash(last, version=8, prev_hash="ab" * 32, note="ditutup paksa")
    # Another version 3, with a different title, correctly linked and hashed.
    rewritten = rehash(verified, title="Laporan lain")
    producer = KafkaProducer(bootstrap_servers=kafka.bootstrap)
    for payload, position in ((appended, 999), (rewritten, 998)):
        key, value, headers = record_of(payload, position)
        producer.send(kafka.topic, key=key, value=value, headers=headers)
    producer.flush()
    producer.close()

    report = audit(lapor, kafka)

    assert sorted(named(report)) == [
        ("forged", "topic", tracking[1], 3),
        ("forged", "topic", tracking[2], 8),
    ]
    by_version = {f.version: f for f in report.findings}
    assert "does not link" in by_version[8].detail
    assert "different content" in by_version[3].detail
    assert by_version[8].partition is not None and by_version[8].offset is not None
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
        if r.key.decode() == str(lapor.complaint_id_for(tracking[0]))
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
    target = str(lapor.complaint_id_for(tracking[2]))
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
        text="Sudah diperbaiki oleh dinas",
    )
    traffic(lapor, 3, NOW + timedelta(days=1), seed="other")
    publish(lapor, kafka)
    history = lapor.history(lapor.complaint_id_for(tid))
    forwarded_due = history[2].follow_up_due_at  # type: ignore[attr-defined]
    cid = str(lapor.complaint_id_for(tid))
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
    assert json.loads(exported.stdout)["events"] == 7
    lines = (one / "events.jsonl").read_bytes().splitlines()
    assert [json.loads(line)["version"] for line in lines] == [1, 2, 3, 4, 5, 6, 7]
    manifest = json.loads((one / "manifest.json").read_text())
    assert manifest["complaints"][0]["tracking_id"] == tracking[2]
    assert manifest["complaints"][0]["head_hash"] == json.loads(lines[-1])["event_hash"]

    ok = runner.invoke(cli, ["audit", "check-bundle", str(one), "--public-key", str(public)])
    assert ok.exit_code == 0, ok.output
    assert "OK: 1 complaints, 7 events" in ok.stdout

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
    assert f"modified: complaint {tracking[2]} version 6" in failed.stdout

    (tmp_path / "other").mkdir()
    stranger = signing_key(tmp_path / "other")[1]
    events.write_bytes(data)
    wrong_key = runner.invoke(
        cli, ["audit", "check-bundle", str(one), "--public-key", str(stranger)]
    )
    assert wrong_key.exit_code == 1
    assert "not a valid signature" in wrong_key.stdout


# ------------------------------------------------------------------ issue 10 item 16
# Each tampering below left `audit verify --store-only` at 0 findings before the store
# pass read every topic, committed the hash to the private fields, chained the directory,
# checked numbers, positions and snapshots, and anchored the heads in a checkpoint.
class Tamper(StoredRows):
    """More of what someone with the database can do, on any stream or table."""

    def sql(self, sql: str, *params: Any) -> list[Any]:
        if self.settings.is_sqlite:
            with sqlite3.connect(sqlite_path(self.settings.database_url)) as conn:
                return conn.execute(sql.replace("%s", "?"), params).fetchall()
        import psycopg

        with psycopg.connect(self.settings.database_url, autocommit=True) as conn:
            cur = conn.execute(sql, params)
            return cur.fetchall() if cur.description else []

    def key(self, stream_id: UUID) -> Any:
        return stream_id.hex if self.settings.is_sqlite else stream_id

    def last_version(self, stream_id: UUID) -> int:
        rows = self.sql(
            f"SELECT MAX(originator_version) FROM {self.table} WHERE originator_id = %s",
            self.key(stream_id),
        )
        return int(rows[0][0])

    def set_topic(self, stream_id: UUID, version: int, topic: str) -> None:
        self.sql(
            f"UPDATE {self.table} SET topic = %s WHERE originator_id = %s "
            "AND originator_version = %s",
            topic,
            self.key(stream_id),
            version,
        )

    def delete_stream(self, stream_id: UUID) -> None:
        self.sql(f"DELETE FROM {self.table} WHERE originator_id = %s", self.key(stream_id))

    def replace_in(self, stream_id: UUID, version: int, old: bytes, new: bytes) -> None:
        state = self.state(stream_id, version)
        assert state.count(old) == 1, (old, state[:300])
        self.set_state(stream_id, version, state.replace(old, new))


def verify_store(settings: Settings, *extra: str) -> tuple[int, dict[str, Any]]:
    """`lapor-es audit verify --store-only --format json`: exit status and report."""
    result = CliRunner().invoke(
        cli,
        ["audit", "verify", "--store-only", "--format", "json", *extra],
        env={"LAPOR_DATABASE_URL": settings.database_url, "LAPOR_REPORTER_PEPPER": "test-pepper"},
    )
    assert result.exit_code in (0, 1), result.output
    return result.exit_code, json.loads(result.stdout)


def kinds(report: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(f["kind"], f["tracking_id"]) for f in report["findings"]]


def take_checkpoint(settings: Settings, path: Path) -> Path:
    result = CliRunner().invoke(
        cli,
        ["audit", "checkpoint", "--out", str(path), "--no-kafka"],
        env={
            "LAPOR_DATABASE_URL": settings.database_url,
            "LAPOR_REPORTER_PEPPER": "test-pepper",
            "LAPOR_AUDIT_SIGNING_KEY": str(signing_key(path.parent)[0]),
        },
    )
    assert result.exit_code == 0, result.output
    return path


def test_a_clean_store_passes_every_store_check_and_its_own_checkpoint(
    lapor: LaporApp, settings: Settings, tmp_path: Path
) -> None:
    populate(lapor)
    anchor = take_checkpoint(settings, tmp_path / "checkpoint.json")

    status, report = verify_store(settings, "--checkpoint", str(anchor))

    assert (status, report["findings"]) == (0, [])
    assert report["summary"]["checkpoint_position"] == store_pass_head(lapor)
    assert report["summary"]["snapshots_checked"] == 0  # six complaints, none at 50 events


def store_pass_head(lapor: LaporApp) -> int:
    return int(lapor.recorder.max_notification_id() or 0)


def test_a_deleted_last_event_shows_as_a_hole_and_against_the_checkpoint(
    lapor: LaporApp, settings: Settings, tmp_path: Path
) -> None:
    tracking = populate(lapor)
    anchor = take_checkpoint(settings, tmp_path / "checkpoint.json")
    target = lapor.complaint_id_for(tracking[2])
    tamper = Tamper(settings, lapor)
    last = tamper.last_version(target)
    assert stored_position(lapor, tracking[2], last) < store_pass_head(lapor)  # not the end
    tamper.delete(target, last)

    status, plain = verify_store(settings)
    _, anchored = verify_store(settings, "--checkpoint", str(anchor))

    if settings.is_sqlite:  # no hole is ever left by SQLite: a hole is a deletion
        assert (status, kinds(plain)) == (1, [("position_gap", None)])
    else:  # PostgreSQL's holes are explained; only the anchor can tell
        assert status == 0 and plain["summary"]["explained_position_gaps"]
    mismatch = [f for f in anchored["findings"] if f["kind"] == "checkpoint_mismatch"]
    assert [(f["tracking_id"], f["version"]) for f in mismatch] == [(tracking[2], last)]
    assert f"ends at {last - 1} (deleted)" in mismatch[0]["detail"]


def test_a_deleted_whole_complaint_is_a_missing_tracking_number(
    lapor: LaporApp, settings: Settings
) -> None:
    tracking = populate(lapor)
    Tamper(settings, lapor).delete_stream(lapor.complaint_id_for(tracking[3]))

    status, report = verify_store(settings)

    assert status == 1
    assert ("tracking_gap", tracking[3]) in kinds(report)
    assert {k for k, _ in kinds(report)} <= {"tracking_gap", "position_gap"}


def test_a_deleted_last_complaint_of_a_released_block_is_a_missing_tracking_number(
    lapor: LaporApp, settings: Settings
) -> None:
    """Numbers come in writers' blocks (lapor_es.tracking). Once the writer has released its
    block (listing the numbers it never used), its last filing is accounted for too: the
    complaint deleted, its number is neither filed nor released unused."""
    tracking = populate(lapor)
    lapor.tracking.release()
    Tamper(settings, lapor).delete_stream(lapor.complaint_id_for(tracking[-1]))

    status, report = verify_store(settings)

    assert status == 1
    assert ("tracking_gap", tracking[-1]) in kinds(report)
    assert {k for k, _ in kinds(report)} <= {"tracking_gap", "position_gap"}
    explained = report["summary"]["explained_tracking_numbers"]
    assert explained and {e["reason"] for e in explained} == {"released unused by its writer"}


@pytest.mark.parametrize(
    "topic",
    [
        "lapor_es.aggregates.complaint:Complaint.NoSuchEvent",
        "somebody.else:Event",
        "lapor_es.aggregates.agency:Agency.Updated",  # a real class, of another aggregate
    ],
)
def test_a_changed_topic_is_read_and_named(lapor: LaporApp, settings: Settings, topic: str) -> None:
    tracking = populate(lapor)
    tamper = Tamper(settings, lapor)
    target = lapor.complaint_id_for(tracking[4])
    last = tamper.last_version(target)
    tamper.set_topic(target, last, topic)

    status, report = verify_store(settings)

    assert (status, kinds(report)) == (1, [("unknown_topic", tracking[4])])
    assert report["findings"][0]["version"] == last


@pytest.mark.parametrize("field", ["reporter_ref", "sealed_identity"])
def test_a_rewritten_private_field_breaks_the_hash(
    lapor: LaporApp, settings: Settings, field: str
) -> None:
    tracking = populate(lapor)
    target = lapor.complaint_id_for(tracking[0])
    tamper = Tamper(settings, lapor)
    filed = json.loads(tamper.state(target, 1))
    old = filed[field]
    new = old[:-4] + ("0000" if not old.endswith("0000") else "1111")
    tamper.replace_in(target, 1, f'"{field}":"{old}"'.encode(), f'"{field}":"{new}"'.encode())

    status, report = verify_store(settings)

    assert (status, kinds(report)) == (1, [("modified", tracking[0])])
    assert "does not match its event_hash" in report["findings"][0]["detail"]


def test_an_edited_snapshot_is_checked_against_replay(settings: Settings, tmp_path: Path) -> None:
    snapshotting = settings.model_copy(update={"snapshot_interval": 1})
    app = open_app(snapshotting, clock=lambda: NOW)
    try:
        tracking = populate(app)
        assert app.snapshots is not None
        table = app.snapshots.recorder.events_table_name  # type: ignore[attr-defined]
        target = app.complaint_id_for(tracking[2])  # a snapshot after every save
        shown: Any = app.repository.get(target)
        assert isinstance(shown, Complaint) and str(shown.state) == "RESOLVED"
    finally:
        app.close()
    tamper = Tamper(settings, app)
    status, clean = verify_store(settings)
    assert status == 0 and clean["summary"]["snapshots_checked"] > 0

    ((version, state),) = tamper.sql(
        f"SELECT originator_version, state FROM {table} WHERE originator_id = %s "
        "ORDER BY originator_version DESC LIMIT 1",
        tamper.key(target),
    )
    assert version == shown.version  # `show` loads this snapshot and nothing after it
    edited = bytes(state).replace(b'"state":"RESOLVED"', b'"state":"ARCHIVED"')
    assert edited != bytes(state)
    tamper.sql(
        f"UPDATE {table} SET state = %s WHERE originator_id = %s AND originator_version = %s",
        edited,
        tamper.key(target),
        version,
    )
    reopened = open_app(settings, clock=lambda: NOW)
    try:
        assert str(reopened.repository.get(target).state) == "ARCHIVED"  # what `show` said
    finally:
        reopened.close()

    status, report = verify_store(settings)

    assert status == 1
    assert [(f["kind"], f["complaint_id"], f["version"]) for f in report["findings"]] == [
        ("snapshot_mismatch", str(target), version)
    ]
    assert "state" in report["findings"][0]["detail"]


def test_a_rewritten_directory_event_breaks_the_directorys_chain(
    lapor: LaporApp, settings: Settings
) -> None:
    populate(lapor)
    from lapor_es.aggregates import agency_id_for

    tamper = Tamper(settings, lapor)
    kemenkes = agency_id_for("KEMENKES")
    registered = json.loads(tamper.state(kemenkes, 1))
    tamper.replace_in(
        kemenkes,
        1,
        f'"name":"{registered["name"]}"'.encode(),
        b'"name":"Kementerian Palsu"',
    )

    status, report = verify_store(settings)

    assert status == 1
    assert [(f["kind"], f["stream"], f["tracking_id"]) for f in report["findings"]] == [
        ("modified", "agency", "KEMENKES")
    ]


def test_a_rewritten_and_rehashed_tail_is_caught_only_with_the_checkpoint(
    lapor: LaporApp, settings: Settings, tmp_path: Path
) -> None:
    tracking = populate(lapor)
    anchor = take_checkpoint(settings, tmp_path / "checkpoint.json")
    target = lapor.complaint_id_for(tracking[5])
    tamper = Tamper(settings, lapor)
    last = tamper.last_version(target)
    # Decode the last event, change its text, recompute its hash, store it back: a
    # consistent forgery, since no later event links to it.
    (stored,) = [e for e in lapor.repository.event_store.get(target, gt=last - 1, lte=last)]
    from lapor_es.contract.payloads import public_payload

    assert isinstance(stored, Complaint.Event)
    forged = copy.copy(stored)
    text_field = "text" if "text" in vars(stored) else "note"
    forged.__dict__[text_field] = "dijawab (palsu)"
    forged.__dict__["event_hash"] = payload_hash(public_payload(forged))
    tamper.set_state(target, last, lapor.mapper.to_stored_event(forged).state)

    plain_status, plain = verify_store(settings)
    status, anchored = verify_store(settings, "--checkpoint", str(anchor))

    assert (plain_status, plain["findings"]) == (0, [])
    assert status == 1
    assert [(f["kind"], f["tracking_id"], f["version"]) for f in anchored["findings"]] == [
        ("checkpoint_mismatch", tracking[5], last)
    ]
    assert "rewritten and its hashes recomputed" in anchored["findings"][0]["detail"]


def test_a_checkpoint_with_a_bad_signature_is_refused(
    lapor: LaporApp, settings: Settings, tmp_path: Path
) -> None:
    populate(lapor)
    anchor = take_checkpoint(settings, tmp_path / "checkpoint.json")
    document = json.loads(anchor.read_text())
    document["summary"]["position"] -= 1
    anchor.write_text(json.dumps(document))

    result = CliRunner().invoke(
        cli,
        ["audit", "verify", "--store-only", "--checkpoint", str(anchor)],
        env={"LAPOR_DATABASE_URL": settings.database_url, "LAPOR_REPORTER_PEPPER": "test-pepper"},
    )

    assert result.exit_code == 2
    assert "signature does not verify" in result.output


@SQLITE_ONLY
def test_checkpoint_is_published_to_kafka_and_included_in_the_export(
    lapor: LaporApp, settings: Settings, kafka: KafkaSettings, tmp_path: Path
) -> None:
    from lapor_es.audit.checkpoint import TOPIC, load

    populate(lapor)
    private, public = signing_key(tmp_path)
    env = {
        "LAPOR_DATABASE_URL": settings.database_url,
        "LAPOR_REPORTER_PEPPER": "test-pepper",
        "LAPOR_AUDIT_SIGNING_KEY": str(private),
        "LAPOR_KAFKA_BOOTSTRAP": kafka.bootstrap,
    }
    runner = CliRunner()
    taken = runner.invoke(cli, ["audit", "checkpoint", "--out", str(tmp_path / "cp")], env=env)
    assert taken.exit_code == 0, taken.output
    assert json.loads(taken.stdout)["published_to"] == TOPIC

    records = read_topic(replace(kafka, topic=TOPIC))
    ours = [
        r for r in records if json.loads(r.value)["summary"]["public_key"] == public.read_text()
    ]
    assert ours, "the checkpoint never reached the topic"
    published = load(ours[-1].value, public.read_bytes())
    assert published.chains is None and published.position == store_pass_head(lapor)
    on_topic = tmp_path / "from-topic.json"
    on_topic.write_bytes(ours[-1].value)
    status, report = verify_store(
        settings, "--checkpoint", str(on_topic), "--public-key", str(public)
    )
    assert (status, report["findings"]) == (0, [])

    out = tmp_path / "bundle"
    exported = runner.invoke(
        cli, ["audit", "export", "--complaint", "LAP-2026-0000001", "--out", str(out)], env=env
    )
    assert exported.exit_code == 0, exported.output
    assert load((out / "checkpoint.json").read_bytes(), public.read_bytes()).chains
    checked = runner.invoke(cli, ["audit", "check-bundle", str(out), "--public-key", str(public)])
    assert checked.exit_code == 0, checked.output
