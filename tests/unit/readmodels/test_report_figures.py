"""The report's own arithmetic: regrouping completion rows and the backlog's age bands."""

from __future__ import annotations

import pytest

from lapor_es.readmodels import stats as st
from lapor_es.readmodels.report import age_band, regroup


def row(key: str, filed: int, resolved: int, followed_up: int) -> st.CompletionRow:
    return st.CompletionRow(key, filed, filed, followed_up, resolved, 0, 0)


def test_days_sum_into_their_months() -> None:
    days = [row("2026-01-30", 2, 1, 2), row("2026-02-02", 3, 3, 3), row("2026-02-27", 5, 1, 2)]
    by_month = regroup(days, None, st.NONE)
    assert [(r.key, r.filed, r.resolved, r.followed_up) for r in by_month] == [
        ("2026-01", 2, 1, 2),
        ("2026-02", 8, 4, 5),
    ]
    assert by_month[1].completion_rate == pytest.approx(0.5)


def test_agencies_sum_into_their_tiers_and_unknown_ones_into_none() -> None:
    agencies = [row("KEMENKES", 4, 2, 3), row("KEMENSOS", 6, 3, 3), row(st.NONE, 1, 0, 0)]
    tiers = {"KEMENKES": "ministry", "KEMENSOS": "ministry"}
    assert [(r.key, r.filed, r.resolved) for r in regroup(agencies, tiers, st.NONE)] == [
        (st.NONE, 1, 0),
        ("ministry", 10, 5),
    ]


@pytest.mark.parametrize(
    ("days", "band"),
    [
        (0, "0-7 days"),
        (7, "0-7 days"),
        (8, "8-30 days"),
        (30, "8-30 days"),
        (31, "31-90 days"),
        (90, "31-90 days"),
        (91, "over 90 days"),
        (4000, "over 90 days"),
    ],
)
def test_age_bands_include_their_upper_bound(days: int, band: str) -> None:
    assert age_band(days) == band
