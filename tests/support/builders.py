"""The one set of test builders: valid by default, every field overridable.

Three levels, one section each: commands for a LaporApp (`file_cmd`, `Driver`, `traffic`),
a Complaint aggregate driven in memory (`filed_complaint`), and published event payloads
for the read models' pure functions (`payload`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import NAMESPACE_URL, UUID, uuid5

import pytest
from eventsourcing.domain import BaseAggregate, CanMutateAggregate

from lapor_es.aggregates import (
    Actor,
    Channel,
    Complaint,
    ComplaintKind,
    DomainError,
    Role,
    Visibility,
)
from lapor_es.application import LaporApp
from lapor_es.commands import Outcome, RegisterAgency, parse_command
from lapor_es.contract.payloads import PAYLOAD_ADAPTER, AnyPayload

DESK = {"id": "desk", "role": "national_admin"}
SYSTEM = {"id": "timer", "role": "system"}
PHONE = "081298765432"
NIK = "3174019876543210"


def agency_actor(code: str) -> dict[str, str]:
    return {"id": f"staff-{code}", "role": "agency_admin", "agency": code}


def reporter_actor(ref: str) -> dict[str, str]:
    return {"id": ref, "role": "reporter"}


def file_cmd(**overrides: Any) -> dict[str, Any]:
    command: dict[str, Any] = {
        "command": "file",
        "actor": {"id": "web-session", "role": "reporter"},
        "channel": "web",
        "title": "Air PDAM tidak mengalir",
        "description": "Sudah dua minggu air PDAM tidak mengalir di perumahan kami.",
        "category": "Air Bersih",
        "reporter": {"name": "Dewi Lestari", "phone": PHONE, "nik": NIK},
    }
    return command | overrides


def small_directory(lapor: LaporApp) -> None:
    """Desk, two ministries with units, and a province: enough for routing rules."""
    rows = [
        ("LAPOR", "national_desk", None),
        ("KEMENKES", "ministry", "LAPOR"),
        ("KEMENKES.ITJEN", "unit", "KEMENKES"),
        ("KEMENKES.YANKES", "unit", "KEMENKES"),
        ("KEMENSOS", "ministry", "LAPOR"),
        ("KEMENSOS.LINJAMSOS", "unit", "KEMENSOS"),
        ("PROV-JABAR", "province", "LAPOR"),
    ]
    lapor.register_agencies(
        [
            RegisterAgency.model_validate(
                {
                    "command": "register_agency",
                    "actor": DESK,
                    "code": code,
                    "name": f"Agency {code}",
                    "kind": kind,
                    "parent": parent,
                }
            )
            for code, kind, parent in rows
        ]
    )


class Driver:
    """Runs commands at a business time that moves forward in small steps."""

    def __init__(self, lapor: LaporApp, start: datetime) -> None:
        self.lapor = lapor
        self.at = start

    def __call__(self, **command: Any) -> Outcome:
        self.at += timedelta(hours=1)
        return self.lapor.handle(parse_command({**command, "at": self.at.isoformat()}))


def refusal(run: Driver, command: dict[str, Any]) -> DomainError:
    """The domain's refusal of `command` (the test fails if it is accepted)."""
    with pytest.raises(DomainError) as refused:
        run(**command)
    return refused.value


def traffic(lapor: LaporApp, complaints: int, start: datetime, *, seed: str = "t") -> list[str]:
    """File `complaints` complaints and drive them down varied paths (small_directory needed).

    Returns their tracking ids. Deterministic; 3 to 8 events per complaint.
    """
    run = Driver(lapor, start)
    tracking = []
    for i in range(complaints):
        out = run(
            **file_cmd(
                title=f"Laporan {seed} {i}",
                reporter={
                    "name": f"Warga {seed} {i}",
                    "phone": f"0813{sum(map(ord, seed)) % 1000:03d}{i:05d}",
                },
                visibility=("public", "anonymous", "confidential")[i % 3],
            )
        )
        tid, ref = str(out.tracking_id), str(out.reporter_ref)
        tracking.append(tid)
        path = i % 4
        if path == 3:
            run(command="archive", actor=DESK, complaint=tid, reason="too_general")
            continue
        run(
            command="verify",
            actor=DESK,
            complaint=tid,
            title=f"Laporan {i}",
            category="Air Bersih",
            kind="complaint",
            visibility="public",
            visibility_reason="Pelapor setuju laporannya dipublikasikan",
            to_agency="KEMENKES" if i % 2 else "KEMENSOS",
        )
        if path == 0:
            continue
        holder = "KEMENKES" if i % 2 else "KEMENSOS"
        run(
            command="respond",
            actor=agency_actor(holder),
            complaint=tid,
            kind="final",
            text="Sudah ditindaklanjuti",
        )
        if path == 2:
            run(
                command="reply",
                actor=reporter_actor(ref),
                complaint=tid,
                kind="confirm",
                text="Terima kasih",
            )
    return tracking


# ----------------------------------------------------------------- a Complaint in memory
FILED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # a Monday
REPORTER = Actor("rep-1", Role.REPORTER)


# The complaint-id namespace of the domain tests' imaginary store (a real store records its own:
# aggregates.deployment).
NAMESPACE = uuid5(NAMESPACE_URL, "https://lapor.go.id/ns/tests")


def filed_complaint(
    n: int = 1, *, actor: Actor = REPORTER, at: datetime = FILED_AT, **fields: Any
) -> Complaint:
    """Complaint number `n` just filed by `actor` (SUBMITTED, verification due in three
    days); any other argument of `Complaint.file` can be given in `fields`."""
    arguments: dict[str, Any] = {
        "tracking_id": f"LAP-2026-{n:07d}",
        "kind": ComplaintKind.COMPLAINT,
        "channel": Channel.WEB,
        "title": "Jalan rusak",
        "description": "Jalan di depan sekolah berlubang sejak Januari.",
        "category": None,
        "location": "Kota Bandung",
        "reporter_ref": REPORTER.id,
        "sealed_identity": "sealed:abc",
        "visibility": Visibility.PUBLIC,
        "target_agency": None,
        "verification_due_at": at + timedelta(days=3),
        "namespace": NAMESPACE,
    }
    return Complaint.file(actor=actor, at=at, **(arguments | fields))


AggregateT = TypeVar("AggregateT", bound=BaseAggregate[UUID])
EventT = TypeVar("EventT")


def pending_event(aggregate: BaseAggregate[UUID], index: int, kind: type[EventT]) -> EventT:
    """The aggregate's pending event at `index`, checked to be a `kind` (and typed as one)."""
    event = aggregate.pending_events[index]
    assert isinstance(event, kind), f"event {index} is {type(event).__name__}, not {kind}"
    return event


def collected_events(complaint: Complaint) -> list[Complaint.Event]:
    """The complaint's pending events, collected (as a save does), typed as complaint events."""
    events = complaint.collect_events()
    typed = [event for event in events if isinstance(event, Complaint.Event)]
    assert len(typed) == len(events), "an event that is not a Complaint.Event"
    return typed


def replayed(events: Sequence[CanMutateAggregate[UUID]], kind: type[AggregateT]) -> AggregateT:
    """The aggregate rebuilt from its events alone, as the store rebuilds it."""
    aggregate: AggregateT | None = None
    for event in events:
        aggregate = event.mutate(aggregate)
    assert isinstance(aggregate, kind)
    return aggregate


# ----------------------------------------------------------------- published payloads
COMPLAINT_ID = "c5617569-08ed-5257-903b-c464c864ff57"
NO_HASH = "0" * 64


def payload(
    event_type: str, *, version: int, at: datetime | str, role: str = "system", **fields: Any
) -> AnyPayload:
    """A valid published payload of `event_type` (its own fields in `fields`); the envelope
    fields default to one complaint, an acting staff member and zero hashes."""
    envelope = {
        "type": event_type,
        "complaint_id": COMPLAINT_ID,
        "tracking_id": "LAP-2026-0000001",
        "version": version,
        "at": at,
        "role": role,
        "actor_id": None if role == "reporter" else "x",
        "actor_agency": None,
        "prev_hash": NO_HASH,
        "event_hash": NO_HASH,
    }
    return PAYLOAD_ADAPTER.validate_python(envelope | fields)
