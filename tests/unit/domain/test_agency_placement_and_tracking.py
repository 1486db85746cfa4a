"""Agency placement in the directory tree, the Agency aggregate's register and update
rules, the tracking-number sequence and the common domain error."""

from __future__ import annotations

import pytest

from lapor_es.aggregates import (
    Actor,
    Agency,
    AgencyKind,
    AgencyRef,
    AlreadyRecorded,
    DomainError,
    InvalidTransition,
    NotAuthorized,
    RuleViolation,
    TrackingSequence,
    agency_id_for,
    check_placement,
)
from tests.support.builders import REPORTER, replayed
from tests.unit.domain.transitions.world import (
    A_U1,
    ADMIN,
    DESK,
    NOW,
    SYSTEM,
    T0,
    A,
    B,
    agency,
    names,
    state_of,
)


# ----------------------------------------------------------------- agencies
@pytest.mark.parametrize(
    ("kind", "parent"),
    [
        (AgencyKind.NATIONAL_DESK, None),
        (AgencyKind.MINISTRY, DESK),
        (AgencyKind.PROVINCE, DESK),
        (AgencyKind.CITY, DESK),
        (AgencyKind.SOE, DESK),
        (AgencyKind.UNIT, A),
        (AgencyKind.UNIT, B),
        (AgencyKind.UNIT, A_U1),  # units may nest
    ],
)
def test_placement_allowed(kind: AgencyKind, parent: AgencyRef | None) -> None:
    check_placement("X", kind, parent)


@pytest.mark.parametrize(
    ("kind", "parent", "words"),
    [
        (AgencyKind.NATIONAL_DESK, DESK, "no parent"),
        (AgencyKind.NATIONAL_DESK, A, "no parent"),
        (AgencyKind.MINISTRY, None, "needs a parent"),
        (AgencyKind.UNIT, None, "needs a parent"),
        (AgencyKind.MINISTRY, A, "directly below the national desk"),
        (AgencyKind.REGENCY, B, "directly below the national desk"),
        (AgencyKind.INSTITUTION, A_U1, "directly below the national desk"),
        (AgencyKind.UNIT, DESK, "not to the national desk"),
    ],
)
def test_placement_refused(kind: AgencyKind, parent: AgencyRef | None, words: str) -> None:
    with pytest.raises(RuleViolation, match=words):
        check_placement("X", kind, parent)


def test_agency_register_and_update() -> None:
    a = Agency.register(
        ADMIN,
        T0,
        code="A",
        name="Kementerian A",
        kind=AgencyKind.MINISTRY,
        parent=DESK,
        region=None,
    )
    assert a.id == agency_id_for("A")
    assert names(a.pending_events) == ["Registered"]
    assert a.ref == A
    assert a.registered_at == T0
    assert a.update(ADMIN, NOW, name="Kementerian A", region=None) is False
    assert names(a.pending_events) == ["Registered"] and a.version == 1
    assert a.update(ADMIN, NOW, name="Kementerian A Baru", region="Jakarta") is True
    assert names(a.pending_events) == ["Registered", "Updated"]
    assert (a.name, a.region) == ("Kementerian A Baru", "Jakarta")
    assert a.update(ADMIN, NOW, name="Kementerian A Baru", region="Jakarta") is False
    assert a.version == 2
    again = replayed(a.collect_events(), Agency)
    assert state_of(again) == state_of(a)


def test_agency_register_checks_placement() -> None:
    with pytest.raises(RuleViolation):
        Agency.register(
            ADMIN, T0, code="A.U9", name="Unit", kind=AgencyKind.UNIT, parent=DESK, region=None
        )


def test_the_system_may_maintain_the_directory() -> None:
    a = Agency.register(
        SYSTEM, T0, code="B", name="Provinsi B", kind=AgencyKind.PROVINCE, parent=DESK, region=None
    )
    assert a.update(SYSTEM, NOW, name="Provinsi B", region="Jawa Barat") is True
    assert names(a.pending_events) == ["Registered", "Updated"]


@pytest.mark.parametrize("actor", [agency("A"), agency("LAPOR"), REPORTER])
def test_only_the_desk_or_the_system_registers_an_agency(actor: Actor) -> None:
    with pytest.raises(NotAuthorized, match="agency directory"):
        Agency.register(
            actor,
            T0,
            code="A",
            name="Kementerian A",
            kind=AgencyKind.MINISTRY,
            parent=DESK,
            region=None,
        )


def test_authorization_is_checked_before_placement() -> None:
    with pytest.raises(NotAuthorized):
        Agency.register(
            agency("A"),
            T0,
            code="A.U9",
            name="Unit",
            kind=AgencyKind.UNIT,
            parent=DESK,
            region=None,
        )


@pytest.mark.parametrize("actor", [agency("A"), agency("LAPOR"), REPORTER])
@pytest.mark.parametrize("change", [True, False], ids=["change", "no-op"])
def test_only_the_desk_or_the_system_updates_an_agency(actor: Actor, change: bool) -> None:
    a = Agency.register(
        ADMIN,
        T0,
        code="A",
        name="Kementerian A",
        kind=AgencyKind.MINISTRY,
        parent=DESK,
        region=None,
    )
    name = "Kementerian A Baru" if change else "Kementerian A"
    with pytest.raises(NotAuthorized, match="agency directory"):
        a.update(actor, NOW, name=name, region=None)
    assert a.version == 1 and a.name == "Kementerian A"


# ----------------------------------------------------------------- tracking numbers
def test_tracking_sequence_issues_consecutive_numbers() -> None:
    seq = TrackingSequence(year=2026)
    assert seq.issue() == "LAP-2026-0000001"
    assert seq.issue() == "LAP-2026-0000002"
    assert seq.last_number == 2
    assert names(seq.pending_events) == ["Started", "NumberIssued", "NumberIssued"]
    again = replayed(seq.collect_events(), TrackingSequence)
    assert again.last_number == 2
    assert again.issue() == "LAP-2026-0000003"


def test_a_domain_error_is_the_common_base() -> None:
    for cls in (InvalidTransition, NotAuthorized, RuleViolation, AlreadyRecorded):
        assert issubclass(cls, DomainError)
