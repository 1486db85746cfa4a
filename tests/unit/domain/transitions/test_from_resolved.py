"""From RESOLVED: reopening within the window, by the desk only."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lapor_es.aggregates import (
    Actor,
    NotAuthorized,
    ResolutionMode,
    ResponseKind,
    RuleViolation,
)
from tests.support.builders import REPORTER
from tests.unit.domain.transitions.world import (
    ADMIN,
    NOW,
    SYSTEM,
    D,
    H,
    S,
    agency,
    new_events,
    resolved,
)


def test_reopen_within_the_window() -> None:
    c = resolved()
    resolved_at = c.resolved_at
    assert resolved_at is not None
    at = resolved_at + timedelta(days=30)  # the last instant of the window
    c.reopen(ADMIN, at, reason="jalan rusak lagi", window_days=30, follow_up_due_at=at + 5 * D)
    assert new_events(c, 7) == ["Reopened"]
    assert c.state == S.IN_PROGRESS
    assert c.reopen_count == 1
    assert (c.resolved_at, c.resolution_mode) == (None, None)
    assert (c.clock, c.clock_started_at, c.due_at) == ("follow_up", at, at + 5 * D)
    assert c.holder_chain == ["A"]
    # ... and again, after another round.
    c.respond(
        agency("A"),
        at + H,
        kind=ResponseKind.FINAL,
        text="jawaban akhir yang lengkap",
        follow_up_due_at=at + 6 * D,
        auto_resolve_due_at=at + 9 * D,
    )
    c.resolve(
        ADMIN, at + 2 * H, mode=ResolutionMode.BY_ADMIN, note="ditutup admin dengan alasan jelas"
    )
    c.reopen(ADMIN, at + 3 * H, reason="lagi", window_days=30, follow_up_due_at=at + 6 * D)
    assert c.reopen_count == 2


def test_reopen_outside_the_window_is_refused() -> None:
    c = resolved()
    assert c.resolved_at is not None
    late = c.resolved_at + timedelta(days=30, seconds=1)
    with pytest.raises(RuleViolation, match="within 30 days"):
        c.reopen(ADMIN, late, reason="", window_days=30, follow_up_due_at=late + 5 * D)
    assert c.version == 7 and c.state == S.RESOLVED and c.reopen_count == 0


@pytest.mark.parametrize("actor", [REPORTER, agency("A"), SYSTEM])
def test_only_the_desk_reopens(actor: Actor) -> None:
    c = resolved()
    with pytest.raises(NotAuthorized):
        c.reopen(actor, NOW, reason="", window_days=30, follow_up_due_at=NOW + 5 * D)
    assert c.version == 7
