"""The traffic plan: deterministic, on volume, on mix, exactly on the completion target, and
every life chronological and legal for the workflow. Pure: no store, no files."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime, timedelta
from functools import cache

import pytest

from lapor_es.simulation import mix
from lapor_es.simulation.plan import (
    ComplaintPlan,
    DirectoryView,
    PlanError,
    PlanParams,
    SimulationPlan,
    apportion,
    build_plan,
)
from lapor_es.workflow import JAKARTA, WorkingCalendar

NOW = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
CAL = WorkingCalendar()


def _directory() -> DirectoryView:
    """A small directory with every agency the mix names, some local governments, units."""
    rows: list[dict[str, str]] = [{"code": "LAPOR", "kind": "national_desk", "parent": ""}]
    named = {a for spec in mix.CATEGORIES for a in spec.agencies}
    for code in sorted(named):
        rows.append({"code": code, "kind": "ministry", "parent": "LAPOR"})
        rows.append({"code": f"{code}.ITJEN", "kind": "unit", "parent": code})
    for i in range(12):
        gov = f"KAB-{i:02d}"
        rows.append({"code": gov, "kind": "regency", "parent": "LAPOR"})
        for unit in ("DINSOS", "DISDIK", "DISDUKCAPIL", "DPUPR", "DINKES"):
            rows.append({"code": f"{gov}.{unit}", "kind": "unit", "parent": gov})
    return DirectoryView.from_rows(rows)


DIRECTORY = _directory()


@cache
def plan_of(n: int, seed: int = 2022, days: int = mix.FILING_DAYS) -> SimulationPlan:
    return build_plan(PlanParams(seed=seed, complaints=n, days=days), DIRECTORY, CAL, now=NOW)


def fingerprint(plan: SimulationPlan) -> list[tuple[object, ...]]:
    return [
        (p.index, p.outcome, s.at, s.command, s.actor, tuple(sorted(s.fields.items(), key=str)))
        for p in plan.complaints
        for s in p.steps
    ]


# ------------------------------------------------------------------ determinism
def test_same_seed_same_plan() -> None:
    a = build_plan(PlanParams(seed=7, complaints=300), DIRECTORY, CAL, now=NOW)
    b = build_plan(PlanParams(seed=7, complaints=300), DIRECTORY, CAL, now=NOW)
    assert fingerprint(a) == fingerprint(b)


def test_another_seed_another_plan() -> None:
    a = build_plan(PlanParams(seed=7, complaints=300), DIRECTORY, CAL, now=NOW)
    b = build_plan(PlanParams(seed=8, complaints=300), DIRECTORY, CAL, now=NOW)
    assert fingerprint(a) != fingerprint(b)


# ------------------------------------------------------------------ volume
def test_the_published_year_is_the_default() -> None:
    params = PlanParams()
    assert params.complaints == 113_989
    dates = params.filing_dates
    assert (dates[0], dates[-1], len(dates)) == (date(2022, 1, 1), date(2022, 12, 10), 344)
    # 113,989 over 344 days is the published 331 a day.
    assert round(params.complaints / len(dates)) == 331


def test_filings_fill_the_window_more_on_working_days() -> None:
    plan = plan_of(6_000)
    assert len(plan.complaints) == 6_000
    per_day = Counter(p.filed_at.astimezone(JAKARTA).date() for p in plan.complaints)
    window = set(plan.params.filing_dates)
    assert set(per_day) <= window
    working = [per_day[d] for d in window if CAL.is_working_day(d)]
    weekend = [per_day[d] for d in window if d.weekday() >= 5]
    assert sum(weekend) / len(weekend) < sum(working) / len(working)
    filed = [p.filed_at for p in plan.complaints]
    assert filed == sorted(filed)  # index order is filing order


def test_days_narrows_the_window_to_the_last_days_before_the_cut_off() -> None:
    plan = plan_of(200, days=30)
    days = {p.filed_at.astimezone(JAKARTA).date() for p in plan.complaints}
    assert min(days) >= date(2022, 11, 11)
    assert max(days) <= date(2022, 12, 10)


# ------------------------------------------------------------------ the mix
def test_category_channel_kind_and_visibility_shares_follow_the_mix() -> None:
    plan = plan_of(12_000)
    n = len(plan.complaints)

    def shares(values: list[str]) -> dict[str, float]:
        return {k: v / n for k, v in Counter(values).items()}

    categories = shares([p.category for p in plan.complaints])
    for spec in mix.CATEGORIES:
        assert categories[spec.name] == pytest.approx(spec.share, abs=0.012), spec.name
    for table, attr in (
        (mix.CHANNELS, "channel"),
        (mix.KINDS, "kind"),
        (mix.VISIBILITY, "visibility"),
    ):
        got = shares([getattr(p, attr) for p in plan.complaints])
        for key, share in table.items():
            assert got[key] == pytest.approx(share, abs=0.015), (attr, key)


def test_the_paths_are_varied() -> None:
    plan = plan_of(6_000)
    commands = Counter(s.command for p in plan.complaints for s in p.steps)
    for command in ("postpone", "supplement", "decline", "forward", "reopen", "merge",
                    "warn_sla", "breach_sla", "escalate", "change_visibility"):  # fmt: skip
        assert commands[command] > 0, command
    modes = Counter(
        s.fields.get("mode") or s.fields.get("kind")
        for p in plan.complaints
        for s in p.steps
        if s.command in ("resolve", "reply")
    )
    assert modes["auto_closed"] > modes["by_admin"] > 0
    assert modes["confirm"] > 0 and modes["dispute"] > 0


# ------------------------------------------------------------------ the completion target
@pytest.mark.parametrize("n", [1, 2, 13, 400, 2_501])
def test_exactly_the_published_share_is_resolved_by_the_year_end(n: int) -> None:
    plan = plan_of(n)
    expected = int(0.8446 * n + 0.5)  # round half up, as the rate is published
    resolved = [p for p in plan.complaints if p.final_state == "RESOLVED"]
    assert len(resolved) == expected
    assert all(p.resolved_at is not None and p.resolved_at <= plan.as_of for p in resolved)


def test_the_as_of_time_is_the_last_second_of_the_year_in_jakarta() -> None:
    assert PlanParams(year=2022).as_of == datetime(2022, 12, 31, 16, 59, 59, tzinfo=UTC)


def test_the_others_end_the_year_in_realistic_open_states() -> None:
    states = plan_of(6_000).final_states()
    assert set(states) == {
        "RESOLVED", "ARCHIVED", "POSTPONED", "SUBMITTED", "FORWARDED", "IN_PROGRESS", "RESPONDED",
    }  # fmt: skip


def test_a_year_not_yet_over_is_refused() -> None:
    with pytest.raises(PlanError):
        build_plan(PlanParams(year=2026, complaints=10), DIRECTORY, CAL, now=NOW)


def test_apportion_is_exact_and_proportional() -> None:
    for total in (0, 1, 7, 1_000, 17_714):
        counts = apportion(total, [0.42, 0.08, 0.5])
        assert sum(counts) == total
        assert all(abs(c - total * w) < 1 for c, w in zip(counts, [0.42, 0.08, 0.5], strict=True))


# ------------------------------------------------------------------ chronology and legality
# The workflow's transitions (docs/workflow.md), written down independently of the plan.
MOVES: dict[tuple[str, str], str] = {
    ("SUBMITTED", "postpone"): "POSTPONED",
    ("POSTPONED", "supplement"): "SUBMITTED",
    ("SUBMITTED", "archive"): "ARCHIVED",
    ("POSTPONED", "archive"): "ARCHIVED",
    ("SUBMITTED", "merge"): "ARCHIVED",
    ("POSTPONED", "merge"): "ARCHIVED",
    ("SUBMITTED", "verify"): "FORWARDED",
    ("SUBMITTED", "forward"): "FORWARDED",
    ("FORWARDED", "forward"): "FORWARDED",
    ("IN_PROGRESS", "forward"): "FORWARDED",
    ("FORWARDED", "start"): "IN_PROGRESS",
    ("FORWARDED", "respond:interim"): "IN_PROGRESS",
    ("IN_PROGRESS", "respond:interim"): "IN_PROGRESS",
    ("FORWARDED", "respond:final"): "RESPONDED",
    ("IN_PROGRESS", "respond:final"): "RESPONDED",
    ("RESPONDED", "reply:dispute"): "IN_PROGRESS",
    ("RESPONDED", "reply:confirm"): "RESOLVED",
    ("RESPONDED", "reply:comment"): "RESPONDED",
    ("RESPONDED", "resolve:auto_closed"): "RESOLVED",
    ("FORWARDED", "resolve:by_admin"): "RESOLVED",
    ("IN_PROGRESS", "resolve:by_admin"): "RESOLVED",
    ("RESPONDED", "resolve:by_admin"): "RESOLVED",
    ("RESOLVED", "reopen"): "IN_PROGRESS",
}
ANY_STATE = {"warn_sla", "breach_sla", "escalate", "change_visibility"}


def replay(p: ComplaintPlan) -> str:
    """Walk the steps through the transition table; fail on any illegal or unordered step."""
    assert p.steps[0].command == "file" and p.steps[0].at == p.filed_at
    state, last, resolved_at = "SUBMITTED", p.filed_at, None
    holder: list[str] = []
    marks: set[tuple[str, str, datetime]] = set()
    for s in p.steps[1:]:
        assert s.at >= last, (p.index, s.command)
        last = s.at
        if s.command in ANY_STATE:
            if s.command == "change_visibility":
                continue
            assert s.actor == "system"
            due = s.fields["due_at"]
            mark = s.command if s.command != "escalate" else f"escalate:{s.fields['level']}"
            key = (mark, s.fields["clock"], due)
            assert key not in marks, key  # each rung once per clock run
            marks.add(key)
            if s.command != "warn_sla":
                assert s.at >= due  # breach and escalation only once due
            if s.command == "escalate":
                assert ("breach_sla", s.fields["clock"], due) in marks
                if s.fields["level"] == "national":
                    assert ("escalate:parent", s.fields["clock"], due) in marks
            assert state not in ("RESOLVED", "ARCHIVED", "POSTPONED")
            continue
        if s.command == "decline":
            assert state == "FORWARDED" and s.actor == holder[-1]
            holder = holder[:-1]
            state = "SUBMITTED" if not holder else "FORWARDED"
            continue
        move = s.command
        if s.command in ("respond", "reply"):
            move += ":" + s.fields["kind"]
        elif s.command == "resolve":
            move += ":" + s.fields["mode"]
        assert (state, move) in MOVES, (p.index, state, move)
        if s.command == "reopen":
            assert resolved_at is not None and s.at <= resolved_at + timedelta(days=30)
        if s.command in ("verify",) or (s.command == "forward" and s.actor == "desk"):
            holder = [s.fields["to_agency"]]
        elif s.command == "forward":
            assert s.actor in holder and s.fields["to_agency"].startswith(s.actor + ".")
            holder = [*holder[: holder.index(s.actor) + 1], s.fields["to_agency"]]
        elif s.command in ("start", "respond"):
            assert s.actor in holder
        elif s.command == "merge":
            assert s.into is not None and s.into < p.index
        state = MOVES[(state, move)]
        resolved_at = s.at if state == "RESOLVED" else None
    return state


def test_every_life_is_chronological_legal_and_ends_as_planned() -> None:
    plan = plan_of(6_000)
    for p in plan.complaints:
        assert replay(p) == p.final_state, p.index
        assert all(s.at <= plan.as_of <= NOW for s in p.steps)


def test_a_merge_points_at_a_report_that_is_never_archived() -> None:
    plan = plan_of(6_000)
    merged = [p for p in plan.complaints if any(s.command == "merge" for s in p.steps)]
    assert merged
    for p in merged:
        into = next(s.into for s in p.steps if s.command == "merge")
        assert into is not None
        assert plan.complaints[into].final_state != "ARCHIVED"


def test_responded_ones_are_still_inside_the_reporters_window() -> None:
    plan = plan_of(6_000)
    for p in plan.complaints:
        if p.final_state == "RESPONDED":
            final = max(s.at for s in p.steps if s.command == "respond")
            assert CAL.add_working_days(final, 10) > plan.as_of
