"""Events stored by the previous release still load, project, publish and verify.

tests/data/old_events/release_n1.json holds the stored-event rows (topic, state as the old
release encoded it, no `class_version` key: it was 1) and the reporter key that release
wrote for one complaint's history: filed, verified and forwarded (Verified and Forwarded
v1, no `work_continues`), started, passed down to a unit (Forwarded v1), interim and final
responses, a dispute, another final response and a comment. The rows go into a real
store through eventsourcing's own recorder, exactly as written; the current release must
then load the complaint (upcasting as it reads), take a new command on it, project it,
publish it through the relay, and verify every hash the old release computed.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from cloudevents.v1.kafka import KafkaMessage, from_binary
from eventsourcing.persistence import StoredEvent
from sqlalchemy import Engine, insert, text

from lapor_es.aggregates import Complaint, ComplaintState
from lapor_es.application import LaporApp
from lapor_es.audit.verify import verify
from lapor_es.bootstrap import open_app
from lapor_es.commands import parse_command
from lapor_es.config import Settings
from lapor_es.contract.cloudevents import from_record
from lapor_es.kafka.relay import Relay
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.privacy import SqlKeyStore, reporter_keys
from tests.conftest import NOW
from tests.support.builders import file_cmd, reporter_actor
from tests.support.kafka import assert_exactly_once_in_order, read_topic, stored_events
from tests.support.projections import read_model_service

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

FIXTURE = Path(__file__).parents[1] / "data" / "old_events" / "release_n1.json"
S = ComplaintState


def golden() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    return data


@pytest.fixture
def old_store(database_url: str) -> Iterator[tuple[LaporApp, Settings, str]]:
    """A store holding exactly the rows the previous release wrote, opened by this one."""
    data = golden()
    settings = Settings(database_url=database_url, reporter_pepper=data["reporter_pepper"])
    lapor = open_app(settings, clock=lambda: NOW)  # creates the tables
    write_as_old_release(lapor, data)
    lapor.close()
    lapor = open_app(settings, clock=lambda: NOW)  # opens the old store as an upgrade does
    try:
        yield lapor, settings, str(data["tracking_id"])
    finally:
        lapor.close()


def write_as_old_release(lapor: LaporApp, data: dict[str, Any]) -> None:
    rows = [
        StoredEvent(
            originator_id=UUID(row["originator_id"]),
            originator_version=row["originator_version"],
            topic=row["topic"],
            state=row["state"].encode("utf-8"),
        )
        for row in data["stored_events"]
    ]
    lapor.recorder.insert_events(rows)  # one transaction, in the old notification order
    keys = lapor.vault.keys
    assert isinstance(keys, SqlKeyStore)
    with keys.engine.begin() as conn:
        conn.execute(
            insert(reporter_keys),
            [
                {
                    "key_id": k["key_id"],
                    "reporter_ref": k["reporter_ref"],
                    "key": base64.b64decode(k["key"]),
                    "created_at": datetime.fromisoformat(k["created_at"]),
                }
                for k in data["reporter_keys"]
            ],
        )


def stored_state(data: dict[str, Any], version: int) -> dict[str, Any]:
    """The old release's stored state of the complaint's event `version`, decoded."""
    (row,) = [
        r
        for r in data["stored_events"]
        if ".complaint:" in r["topic"] and r["originator_version"] == version
    ]
    state: dict[str, Any] = json.loads(row["state"])
    return state


def filed_id(data: dict[str, Any]) -> UUID:
    """The complaint's id as the old release derived it (from its Filed row)."""
    (row,) = [r for r in data["stored_events"] if r["topic"].endswith("Complaint.Filed")]
    return UUID(row["originator_id"])


# ----------------------------------------------------------------- the fixture is old
def test_the_fixture_is_what_the_old_release_wrote() -> None:
    """Guards the golden file: v1 rows (no class_version key) without the fields added later."""
    data = golden()
    directory = [r for r in data["stored_events"] if ".agency:" in r["topic"]]
    assert directory and all("event_hash" not in json.loads(r["state"]) for r in directory)
    (key,) = data["reporter_keys"]
    assert len(base64.b64decode(key["key"])) == 32  # stored unwrapped
    complaint_rows = [r for r in data["stored_events"] if ".complaint:" in r["topic"]]
    assert [r["topic"].rpartition(".")[2] for r in complaint_rows] == [
        "Filed",
        "Verified",
        "Forwarded",
        "WorkStarted",
        "Forwarded",
        "Responded",
        "Responded",
        "ReporterReplied",
        "Responded",
        "ReporterReplied",
    ]
    for row in complaint_rows:
        state = json.loads(row["state"])
        assert "class_version" not in state  # written at class_version 1
        assert "private_salt" not in state  # hashed without a private digest
        assert "work_continues" not in state
        assert "chosen_agency" not in state and "override_reason" not in state


# ----------------------------------------------------------------- (a) load and decide
def test_old_history_loads_upcast_and_takes_a_new_command(
    old_store: tuple[LaporApp, Settings, str],
) -> None:
    lapor, _, tracking_id = old_store
    complaint: Complaint = lapor.repository.get(filed_id(golden()))
    assert complaint.version == 10
    assert complaint.state == S.RESPONDED
    assert complaint.holder_chain == ["KEMENKES", "KEMENKES.YANKES"]
    assert complaint.forwarding_path == ["KEMENKES", "KEMENKES.YANKES"]

    # The unit forwarding was stored before `work_continues` existed: upcast to null, so
    # it replays as the old release decided it (FORWARDED), not as the new rule would.
    passed_down: Complaint = lapor.repository.get(complaint.id, version=5)
    assert isinstance(passed_down, Complaint)
    assert passed_down.state == S.FORWARDED
    events = list(lapor.events.get(complaint.id))
    forwardings = [e for e in events if isinstance(e, Complaint.Forwarded)]
    assert [f.work_continues for f in forwardings] == [None, None]
    responses = [e for e in events if isinstance(e, Complaint.Responded)]
    assert [r.follow_up_due_at is not None for r in responses] == [True, False, False]

    # The identity sealed under the old release's key still opens.
    filed = events[0]
    assert isinstance(filed, Complaint.Filed)
    identity = lapor.vault.open(filed.reporter_ref, filed.sealed_identity)
    assert identity is not None and identity.name == "Dewi Lestari"

    # The current release decides on it: the reporter confirms, the complaint resolves.
    lapor.handle(
        parse_command(
            {
                "command": "reply",
                "actor": reporter_actor(filed.reporter_ref),
                "complaint": tracking_id,
                "kind": "confirm",
                "text": "Sudah buka sesuai jadwal, terima kasih.",
                "at": NOW.isoformat(),
            }
        )
    )
    resolved: Complaint = lapor.repository.get(complaint.id)
    assert isinstance(resolved, Complaint)
    assert (resolved.version, resolved.state) == (12, S.RESOLVED)  # ReporterReplied, Resolved
    new = [e for e in lapor.events.get(complaint.id, gt=10) if isinstance(e, Complaint.Event)]
    assert [type(e).__name__ for e in new] == ["ReporterReplied", "Resolved"]
    assert new[0].prev_hash == complaint.last_hash  # chained onto the old release's hash


# ----------------------------------------------------------------- (b) project
def test_old_history_projects_into_the_read_models(
    old_store: tuple[LaporApp, Settings, str],
) -> None:
    lapor, settings, tracking_id = old_store
    service = read_model_service(settings)
    stats = service.catch_up(lapor.recorder, lapor.mapper)
    assert stats.parked == 0
    facts, states, timeline = read_back(service.engine, tracking_id)
    assert facts["state"] == S.RESPONDED
    assert facts["holder_chain"] == "KEMENKES>KEMENKES.YANKES"
    assert facts["version"] == 10
    assert facts["first_response_at"] is not None and facts["final_response_at"] is not None
    assert states == [
        (1, S.SUBMITTED),
        (3, S.FORWARDED),
        (4, S.IN_PROGRESS),
        (5, S.FORWARDED),  # the v1 unit forwarding, upcast with work_continues null
        (6, S.IN_PROGRESS),
        (7, S.RESPONDED),
        (8, S.IN_PROGRESS),
        (9, S.RESPONDED),
    ]
    assert timeline == list(range(1, 11))


def read_back(engine: Engine, tracking_id: str) -> tuple[dict[str, Any], list[Any], list[int]]:
    with engine.connect() as conn:
        facts = dict(
            conn.execute(
                text("SELECT * FROM complaint_facts WHERE tracking_id = :t"), {"t": tracking_id}
            )
            .mappings()
            .one()
        )
        cid = facts["complaint_id"]
        states = [
            (v, s)
            for v, s in conn.execute(
                text(
                    "SELECT version, state FROM complaint_states WHERE complaint_id = :c "
                    "ORDER BY version"
                ),
                {"c": cid},
            )
        ]
        timeline = [
            v
            for (v,) in conn.execute(
                text("SELECT version FROM complaint_timeline WHERE complaint_id = :c ORDER BY 1"),
                {"c": cid},
            )
        ]
    return facts, states, timeline


# ----------------------------------------------------------------- (c) publish, (d) verify
def test_old_history_publishes_decodes_and_verifies(
    old_store: tuple[LaporApp, Settings, str], kafka: KafkaSettings
) -> None:
    lapor, _, tracking_id = old_store
    # A filing by this release continues the old release's numbering (it issued numbers
    # one by one; this one reserves blocks).
    filed = lapor.handle(parse_command({**file_cmd(), "at": NOW.isoformat()}))
    assert filed.tracking_id == "LAP-2026-0000002"
    relay = Relay(lapor.recorder, lapor.mapper, kafka, batch_size=4, poll_interval=0.02)
    assert relay.run(follow=False).published == 11
    records = read_topic(kafka)
    assert_exactly_once_in_order(records, stored_events(lapor))

    data = golden()
    for record in records:
        delivered = from_record(record.value, record.headers)
        if delivered.payload.tracking_id != tracking_id:
            assert delivered.payload.type == "Filed" and delivered.payload.private_digest
            continue
        event = from_binary(
            KafkaMessage(headers=dict(record.headers), key=record.key, value=record.value),
            data_unmarshaller=json.loads,
        )
        assert event["id"] == f"{delivered.payload.complaint_id}:{delivered.payload.version}"
        assert delivered.payload.tracking_id == tracking_id
        stored = stored_state(data, delivered.payload.version)
        # The hash the old release computed is the one published ...
        assert delivered.payload.event_hash == stored["event_hash"]
        # ... over the fields it had: one added later is absent (read as null), not null.
        if delivered.payload.type == "Forwarded":
            assert "work_continues" not in delivered.raw
            assert delivered.payload.work_continues is None
        if delivered.payload.type in {"Responded", "ReporterReplied"}:
            for field in ("follow_up_due_at", "auto_resolve_due_at"):
                assert field in delivered.raw  # v1 stored both, null or not
                assert (delivered.raw[field] is None) == (stored[field] is None)

    report = verify(kafka=kafka, recorder=lapor.recorder, mapper=lapor.mapper)
    assert report.findings == []
    assert report.topic_events == report.store_events == 11
    # The directory of that release was not hash-chained: counted, not a finding.
    assert report.unchained_directory_events == 7
