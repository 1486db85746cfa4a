"""The streamed simulation (bounded memory): the same lives as the whole plan, and its steps
in the same order as sorting every step of the plan."""

from __future__ import annotations

import itertools
import tracemalloc

from lapor_es.simulation.plan import PlanParams, draft_plan
from lapor_es.simulation.run import steps_in_order
from tests.unit.simulation.test_plan import CAL, DIRECTORY, NOW, plan_of

N = 1500


def test_lazy_lives_equal_the_built_plan() -> None:
    lazy = draft_plan(PlanParams(complaints=N), DIRECTORY, CAL, now=NOW)
    built = plan_of(N)
    assert len(lazy) == N and lazy.as_of == built.as_of
    # Out of index order on purpose: each life draws from a generator of its own.
    for index in (*range(N - 1, N - 40, -1), *range(0, N, 7)):
        assert lazy.life(index) == built.complaints[index]


def test_steps_come_in_the_order_sorting_the_whole_plan_gives() -> None:
    lazy = draft_plan(PlanParams(complaints=N), DIRECTORY, CAL, now=NOW)
    built = plan_of(N)
    expected = sorted(
        (step.at, p.index, k) for p in built.complaints for k, step in enumerate(p.steps)
    )
    streamed = [(at, index, k) for at, index, k, _ in steps_in_order(lazy)]
    assert streamed == expected
    for at, index, k, step in itertools.islice(steps_in_order(lazy), 0, None, 97):
        assert step == built.complaints[index].steps[k] and step.at == at


def test_only_the_complaints_in_flight_are_held() -> None:
    """Walking the streamed steps holds far less than the built plan: lives are dropped
    after their last step (the year's plan is ~400 MiB, the walk a small part of it)."""
    lazy = draft_plan(PlanParams(complaints=N), DIRECTORY, CAL, now=NOW)
    tracemalloc.start()
    try:
        for _ in steps_in_order(lazy):
            pass
        _, walk_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        lives = [lazy.life(i) for i in range(N)]
        _, built_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(lives) == N
    assert walk_peak < built_peak / 2, (walk_peak, built_peak)
