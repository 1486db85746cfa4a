"""A year without decreed cuti bersama in the `holidays` package is warned about, once."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from lapor_es.workflow import calendar as cal
from lapor_es.workflow.calendar import WorkingCalendar

# No release will know this year's decree (0.109 stops at 2027; a pinned range may bring newer).
UNDECREED = 2100


@pytest.fixture(autouse=True)
def fresh_warnings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cal, "_UNDECREED_WARNED", set())


def warnings_for(caplog: pytest.LogCaptureFixture, year: int) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno == logging.WARNING and f"no cuti bersama decreed for {year}" in r.getMessage()
    ]


def test_an_undecreed_year_is_warned_once_per_process(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=cal.__name__)
    WorkingCalendar().is_working_day(date(UNDECREED, 3, 1))
    WorkingCalendar().is_working_day(date(UNDECREED, 6, 1))  # another calendar, same year
    [message] = warnings_for(caplog, UNDECREED)
    assert "LAPOR_CALENDAR_EXTRA_HOLIDAYS" in message


def test_decreed_years_are_not_warned(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=cal.__name__)
    calendar = WorkingCalendar()
    assert calendar.holiday_name(date(2026, 3, 18)) is not None  # a cuti bersama of 2026
    calendar.is_working_day(date(2027, 1, 4))
    assert not warnings_for(caplog, 2026)
    assert not warnings_for(caplog, 2027)


def test_without_collective_leave_nothing_is_missing(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=cal.__name__)
    WorkingCalendar(include_collective_leave=False).is_working_day(date(UNDECREED, 3, 1))
    assert not warnings_for(caplog, UNDECREED)
