"""Unit tests of the Reporter aggregate: linking complaints and deciding an erasure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import pytest

from lapor_es.aggregates import (
    Actor,
    AlreadyRecorded,
    NotAuthorized,
    Reporter,
    Role,
    reporter_id_for,
)
from tests.support.builders import pending_event, replayed

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
D = timedelta(days=1)
REF = "rep-1"
ADMIN = Actor("desk-1", Role.NATIONAL_ADMIN, "LAPOR")
SYSTEM = Actor("privacy-job", Role.SYSTEM)


def reporter(complaints: int = 1) -> Reporter:
    r = Reporter(reporter_ref=REF, at=T0)
    for _ in range(complaints):
        r.link(uuid4())
    return r


def names(r: Reporter) -> list[str]:
    return [type(e).__name__ for e in r.pending_events]


def state_of(r: Reporter) -> dict[str, Any]:
    return {k: v for k, v in r.__dict__.items() if k != "_pending_events"}


def replay(r: Reporter) -> Reporter:
    return replayed(r.pending_events, Reporter)


def test_a_new_reporter() -> None:
    r = reporter(complaints=0)
    assert r.id == reporter_id_for(REF)
    assert (r.complaint_ids, r.erased_at, r.erased_through) == ([], None, 0)


@pytest.mark.parametrize("actor", [ADMIN, SYSTEM], ids=["desk", "system"])
def test_the_desk_or_the_system_erases(actor: Actor) -> None:
    r = reporter(complaints=2)
    r.erase(actor, T0 + D, reason="permintaan pelapor")
    assert names(r) == ["Registered", "ComplaintLinked", "ComplaintLinked", "Erased"]
    ev = pending_event(r, -1, Reporter.Erased)
    assert (ev.actor_id, ev.reason, ev.at) == (actor.id, "permintaan pelapor", T0 + D)
    assert (r.erased_at, r.erased_through) == (T0 + D, 2)
    assert state_of(replay(r)) == state_of(r)


@pytest.mark.parametrize(
    "actor",
    [Actor(REF, Role.REPORTER), Actor("admin-A", Role.AGENCY_ADMIN, "A")],
    ids=["the-reporter-themself", "agency"],
)
def test_no_one_else_erases(actor: Actor) -> None:
    r = reporter()
    with pytest.raises(NotAuthorized, match="national desk"):
        r.erase(actor, T0 + D, reason="")
    assert names(r) == ["Registered", "ComplaintLinked"]
    assert r.erased_at is None


@pytest.mark.parametrize("complaints", [0, 1, 3])
def test_a_second_erasure_with_nothing_new_is_already_recorded(complaints: int) -> None:
    r = reporter(complaints)
    r.erase(ADMIN, T0 + D, reason="")
    before = state_of(r)
    with pytest.raises(AlreadyRecorded, match="already erased"):
        r.erase(SYSTEM, T0 + 2 * D, reason="lagi")
    assert state_of(r) == before
    assert names(r)[-1] == "Erased" and names(r).count("Erased") == 1


def test_a_complaint_filed_after_an_erasure_allows_erasing_again() -> None:
    r = reporter(complaints=1)
    r.erase(ADMIN, T0 + D, reason="")
    r.link(uuid4())  # the reporter comes back and files again
    r.erase(ADMIN, T0 + 5 * D, reason="lagi")
    assert (r.erased_at, r.erased_through) == (T0 + 5 * D, 2)
    assert names(r).count("Erased") == 2
    with pytest.raises(AlreadyRecorded):
        r.erase(ADMIN, T0 + 6 * D, reason="")
    assert state_of(replay(r)) == state_of(r)


def test_authorization_is_checked_before_the_already_erased_rule() -> None:
    r = reporter()
    r.erase(ADMIN, T0 + D, reason="")
    with pytest.raises(NotAuthorized):
        r.erase(Actor(REF, Role.REPORTER), T0 + 2 * D, reason="")
