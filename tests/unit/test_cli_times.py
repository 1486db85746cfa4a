"""One reading of operator-typed times (issue 10 item 9b): `timers --now` and `stats --as-of`
mean the same instant for the same text, a bare date is 00:00 WIB, and a --now ahead of real
time is refused in one line, before any step is tried."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from lapor_es.cli.stats import parse_as_of
from lapor_es.cli.timers import parse_now
from lapor_es.workflow.instants import parse_instant

REAL_NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "instant"),
    [
        ("2026-04-01", datetime(2026, 3, 31, 17, tzinfo=UTC)),  # 00:00 WIB
        ("2026-04-01T02:00:00Z", datetime(2026, 4, 1, 2, tzinfo=UTC)),
        ("2026-04-01T09:00:00+07:00", datetime(2026, 4, 1, 2, tzinfo=UTC)),
        ("2026-04-01T02:00:00", datetime(2026, 4, 1, 2, tzinfo=UTC)),  # no zone: UTC
    ],
)
def test_timers_and_stats_read_a_time_alike(text: str, instant: datetime) -> None:
    assert parse_instant(text) == instant
    assert parse_as_of(text) == instant
    assert parse_now(text, real_now=REAL_NOW) == instant


def test_a_bare_date_for_now_is_the_start_of_that_wib_day_not_utc() -> None:
    assert parse_now("2026-11-06", real_now=REAL_NOW) == datetime(2026, 11, 5, 17, tzinfo=UTC)


@pytest.mark.parametrize("text", ["2029-03-01", "2026-12-01T12:00:01Z", "2031-01-01T00:00:00"])
def test_a_now_ahead_of_real_time_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="is in the future"):
        parse_now(text, real_now=REAL_NOW)


@pytest.mark.parametrize("text", ["next tuesday", "1764590400", "2026-13-01", ""])
def test_what_is_not_an_iso_time_is_refused_by_both(text: str) -> None:
    with pytest.raises(ValueError, match="not an ISO date"):
        parse_instant(text)
    with pytest.raises(ValueError, match="not an ISO date"):
        parse_now(text, real_now=REAL_NOW)
