"""Example tests for the working-day calendar.

Every expected date below was derived by hand from the Indonesian holiday list of
``holidays.Indonesia(categories=("public", "government"))`` (checked in
``test_holiday_data_assumptions``), counting working days strictly after the filing date.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from lapor_es.workflow import JAKARTA, WorkingCalendar, subtract_working_days

EPS = timedelta(microseconds=1)


def wib(y: int, m: int, d: int, h: int = 0, mi: int = 0) -> datetime:
    return datetime(y, m, d, h, mi, tzinfo=JAKARTA)


def assert_utc(value: datetime) -> None:
    assert value.tzinfo is UTC
    assert value.utcoffset() == timedelta(0)


# -- the data the expectations rely on ------------------------------------------------------


@pytest.mark.parametrize(
    "day",
    [
        # Idul Fitri 2022: cuti bersama 29 Apr, 4-6 May; Eid 2-3 May
        date(2022, 4, 29), date(2022, 5, 2), date(2022, 5, 3),
        date(2022, 5, 4), date(2022, 5, 5), date(2022, 5, 6),
        # Idul Fitri 2023: cuti bersama 19-21, 24-25 Apr; Eid 22-23 Apr (weekend)
        date(2023, 4, 19), date(2023, 4, 20), date(2023, 4, 21),
        date(2023, 4, 24), date(2023, 4, 25), date(2023, 5, 1),
        # Nyepi 2023 and its cuti bersama
        date(2023, 3, 22), date(2023, 3, 23),
        # Christmas 2023 and cuti bersama 26 Dec, New Year 2024
        date(2023, 12, 25), date(2023, 12, 26), date(2024, 1, 1),
        # Independence Day 2023 (Thu) and 2025 joint holiday (Mon 18 Aug)
        date(2023, 8, 17), date(2025, 8, 18),
        # Eid al-Adha 2024
        date(2024, 6, 17), date(2024, 6, 18),
    ],
)  # fmt: skip
def test_holiday_data_assumptions(cal: WorkingCalendar, day: date) -> None:
    assert cal.holiday_name(day) is not None
    assert not cal.is_working_day(day)


@pytest.mark.parametrize(
    "day",
    [date(2022, 4, 28), date(2022, 5, 9), date(2023, 4, 18), date(2023, 4, 26),
     date(2023, 3, 24), date(2023, 12, 27), date(2024, 1, 2), date(2024, 7, 1),
     date(2024, 7, 5), date(2025, 8, 19)],
)  # fmt: skip
def test_ordinary_weekdays_are_working_days(cal: WorkingCalendar, day: date) -> None:
    assert cal.is_working_day(day)
    assert cal.holiday_name(day) is None


def test_weekends_are_not_working_days_and_have_no_holiday_name(cal: WorkingCalendar) -> None:
    assert not cal.is_working_day(date(2024, 7, 6))  # Saturday
    assert not cal.is_working_day(date(2024, 7, 14))  # Sunday
    assert cal.holiday_name(date(2024, 7, 6)) is None


def test_holiday_names(cal: WorkingCalendar) -> None:
    assert "Christmas" in (cal.holiday_name(date(2023, 12, 26)) or "")
    assert "Independence" in (cal.holiday_name(date(2023, 8, 17)) or "")
    assert "Eid al-Fitr" in (cal.holiday_name(date(2022, 4, 29)) or "")


def test_collective_leave_can_be_excluded() -> None:
    cal = WorkingCalendar(include_collective_leave=False)
    assert cal.is_working_day(date(2023, 12, 26))  # cuti bersama only
    assert cal.holiday_name(date(2023, 12, 26)) is None
    assert not cal.is_working_day(date(2023, 12, 25))  # public holiday stays
    # Nyepi 2023 (Wed 22 Mar) filed Tue 21 Mar: 23 Mar now counts -> 23, 24, 27 Mar.
    assert cal.add_working_days(wib(2023, 3, 21, 9), 3) == wib(2023, 3, 28)


def test_extra_holidays_and_extra_working_days() -> None:
    cal = WorkingCalendar(
        extra_holidays=[date(2024, 7, 8)],
        extra_working_days=[date(2024, 7, 6), date(2023, 12, 26)],
    )
    assert not cal.is_working_day(date(2024, 7, 8))
    assert cal.holiday_name(date(2024, 7, 8)) == "Extra holiday"
    assert cal.is_working_day(date(2024, 7, 6))  # a Saturday moved to a working day
    assert cal.is_working_day(date(2023, 12, 26))  # a cuti bersama overridden
    assert cal.holiday_name(date(2023, 12, 26)) is None
    # Filed Fri 5 Jul 2024: Sat 6 (1), [Sun 7, Mon 8 off], Tue 9 (2), Wed 10 (3).
    assert cal.add_working_days(wib(2024, 7, 5, 10), 3) == wib(2024, 7, 11)


def test_extra_day_in_both_lists_is_rejected() -> None:
    with pytest.raises(ValueError, match="2024-07-08"):
        WorkingCalendar(extra_holidays=[date(2024, 7, 8)], extra_working_days=[date(2024, 7, 8)])


def test_calendar_is_immutable(cal: WorkingCalendar) -> None:
    with pytest.raises(AttributeError):
        cal._extra_holidays = frozenset()
    with pytest.raises(AttributeError):
        cal.foo = 1


def test_next_and_previous_working_day(cal: WorkingCalendar) -> None:
    # Thu 28 Apr 2022 -> 29 Apr .. 8 May all off -> Mon 9 May.
    assert cal.next_working_day(date(2022, 4, 28)) == date(2022, 5, 9)
    assert cal.next_working_day(date(2024, 7, 5)) == date(2024, 7, 8)  # Fri -> Mon
    assert cal.next_working_day(date(2024, 7, 8)) == date(2024, 7, 9)  # strictly after
    assert cal.previous_working_day(date(2022, 5, 9)) == date(2022, 4, 28)


# -- add_working_days -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("start", "days", "deadline"),
    [
        # Idul Fitri 2022: filed Fri 29 Apr (cuti bersama) 15:00; Apr 30-May 8 all off;
        # Mon 9 (1), Tue 10 (2), Wed 11 (3) -> end of Wed 11 May.
        (wib(2022, 4, 29, 15), 3, wib(2022, 5, 12)),
        # Idul Fitri 2023: filed Tue 18 Apr; 19-25 Apr off; Wed 26 (1), Thu 27 (2), Fri 28 (3).
        (wib(2023, 4, 18, 10), 3, wib(2023, 4, 29)),
        # ... 5 days: Mon 1 May is Labour Day; Tue 2 May (4), Wed 3 May (5).
        (wib(2023, 4, 18, 10), 5, wib(2023, 5, 4)),
        # Nyepi 2023: filed Tue 21 Mar; 22-23 Mar off; Fri 24 (1), Mon 27 (2), Tue 28 (3).
        (wib(2023, 3, 21, 9), 3, wib(2023, 3, 29)),
        # Christmas 2023: filed Fri 22 Dec; 25-26 Dec off; Wed 27, Thu 28, Fri 29.
        (wib(2023, 12, 22, 16), 3, wib(2023, 12, 30)),
        # ... 5 days crosses New Year: Mon 1 Jan 2024 off; Tue 2 (4), Wed 3 (5).
        (wib(2023, 12, 22, 16), 5, wib(2024, 1, 4)),
        # Independence Day 2023 (Thu 17 Aug): filed Wed 16; Fri 18, Mon 21, Tue 22.
        (wib(2023, 8, 16, 10), 3, wib(2023, 8, 23)),
        # Independence Day 2025 on Sunday, joint holiday Mon 18: filed Fri 15; Tue 19, 20, 21.
        (wib(2025, 8, 15, 10), 3, wib(2025, 8, 22)),
        # Filing on a Saturday (15 Jun 2024) before Eid al-Adha (Mon 17, Tue 18 off):
        # Wed 19, Thu 20, Fri 21.
        (wib(2024, 6, 15, 11), 3, wib(2024, 6, 22)),
        # Filing on a plain Saturday (6 Jul 2024): Mon 8, Tue 9, Wed 10.
        (wib(2024, 7, 6, 11), 3, wib(2024, 7, 11)),
        # Sunday 7 Jul 2024 (Islamic New Year falls on it) behaves the same.
        (wib(2024, 7, 7, 23, 59), 3, wib(2024, 7, 11)),
        # Plain week: Mon 1 Jul 2024 -> Tue 2, Wed 3, Thu 4, Fri 5, Mon 8.
        (wib(2024, 7, 1, 0, 0), 5, wib(2024, 7, 9)),
        # days == 0: end of the filing day (even a holiday).
        (wib(2022, 4, 29, 15), 0, wib(2022, 4, 30)),
        (wib(2024, 7, 5, 23, 59), 0, wib(2024, 7, 6)),
    ],
)
def test_add_working_days_examples(
    cal: WorkingCalendar, start: datetime, days: int, deadline: datetime
) -> None:
    result = cal.add_working_days(start, days)
    assert result == deadline
    assert_utc(result)


def test_deadline_example_in_utc(cal: WorkingCalendar) -> None:
    # End of Wed 11 May 2022 WIB is 17:00 UTC that day.
    result = cal.add_working_days(wib(2022, 4, 29, 15), 3)
    assert result == datetime(2022, 5, 11, 17, 0, tzinfo=UTC)
    assert result.isoformat() == "2022-05-11T17:00:00+00:00"


def test_late_night_filing_uses_the_jakarta_date(cal: WorkingCalendar) -> None:
    # Thu 4 Jul 2024 23:30 WIB == Thu 16:30 UTC: counts Fri 5, Mon 8, Tue 9.
    thu_night = datetime(2024, 7, 4, 16, 30, tzinfo=UTC)
    assert cal.add_working_days(thu_night, 3) == wib(2024, 7, 10)
    # Fri 5 Jul 00:30 WIB is still Thu 17:30 in UTC, but it is Friday in Jakarta:
    # Mon 8, Tue 9, Wed 10.
    fri_early = datetime(2024, 7, 4, 17, 30, tzinfo=UTC)
    assert fri_early.astimezone(JAKARTA).date() == date(2024, 7, 5)
    assert cal.add_working_days(fri_early, 3) == wib(2024, 7, 11)
    # Fri 5 Jul 23:59 WIB is Fri 16:59 UTC (and Fri 12:59 in New York, on DST): a Friday filing.
    fri_night = datetime(2024, 7, 5, 12, 59, tzinfo=ZoneInfo("America/New_York"))
    assert fri_night.astimezone(JAKARTA) == wib(2024, 7, 5, 23, 59)
    assert cal.add_working_days(fri_night, 3) == wib(2024, 7, 11)


def test_jakarta_has_no_dst() -> None:
    offsets = {
        datetime(y, m, 15, 12, tzinfo=JAKARTA).utcoffset()
        for y in (2022, 2026)
        for m in range(1, 13)
    }
    assert offsets == {timedelta(hours=7)}


def test_add_working_days_rejects_bad_input(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="start"):
        cal.add_working_days(datetime(2024, 7, 1, 10), 3)
    with pytest.raises(ValueError, match="days"):
        cal.add_working_days(wib(2024, 7, 1, 10), -1)


# -- working_days_between / working_days_left ----------------------------------------------


def test_working_days_between(cal: WorkingCalendar) -> None:
    filed = wib(2022, 4, 29, 15)
    assert cal.working_days_between(filed, wib(2022, 5, 11, 23)) == 3  # 9, 10, 11 May
    assert cal.working_days_between(filed, wib(2022, 5, 8, 23)) == 0  # all off
    assert cal.working_days_between(wib(2022, 5, 11, 23), filed) == -3
    assert cal.working_days_between(filed, filed) == 0
    assert cal.working_days_between(wib(2024, 7, 5, 1), wib(2024, 7, 5, 23)) == 0  # same date
    # Crossing the year end: 27, 28, 29 Dec, 2, 3 Jan.
    assert cal.working_days_between(wib(2023, 12, 22), wib(2024, 1, 3, 8)) == 5
    with pytest.raises(ValueError, match="end"):
        cal.working_days_between(filed, datetime(2022, 5, 11))


@pytest.mark.parametrize(
    ("now", "left"),
    [
        (wib(2023, 4, 18, 12), 3),  # filing day: 26, 27, 28 Apr to go
        (wib(2023, 4, 20, 12), 3),  # cuti bersama: still 3
        (wib(2023, 4, 26, 9), 2),  # 27, 28
        (wib(2023, 4, 27, 9), 1),  # 28
        (wib(2023, 4, 28, 8), 0),  # the due day itself
        (wib(2023, 4, 28, 23, 59), 0),
        (wib(2023, 4, 29, 10), 0),  # Saturday after the deadline: overdue, no working day yet
        (wib(2023, 5, 1, 10), 0),  # Labour Day
        (wib(2023, 5, 2, 10), -1),  # first working day overdue
        (wib(2023, 5, 3, 10), -2),  # two working days overdue
    ],
)
def test_working_days_left(cal: WorkingCalendar, now: datetime, left: int) -> None:
    due = cal.add_working_days(wib(2023, 4, 18, 10), 3)
    assert due == wib(2023, 4, 29)
    assert cal.working_days_left(now, due) == left


def test_working_days_left_rejects_naive(cal: WorkingCalendar) -> None:
    with pytest.raises(ValueError, match="now"):
        cal.working_days_left(datetime(2023, 4, 18), wib(2023, 4, 29))
    with pytest.raises(ValueError, match="due"):
        cal.working_days_left(wib(2023, 4, 18), datetime(2023, 4, 29))


# -- subtract_working_days ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("due", "days", "expected"),
    [
        # Due end of Fri 28 Apr 2023.
        (wib(2023, 4, 29), 1, wib(2023, 4, 28)),  # start of the due day
        (wib(2023, 4, 29), 2, wib(2023, 4, 27)),
        (wib(2023, 4, 29), 3, wib(2023, 4, 26)),
        (wib(2023, 4, 29), 4, wib(2023, 4, 18)),  # 19-25 Apr are off
        # Due end of Wed 11 May 2022: 3 -> Mon 9 May, 4 -> Thu 28 Apr (29 Apr is cuti bersama).
        (wib(2022, 5, 12), 3, wib(2022, 5, 9)),
        (wib(2022, 5, 12), 4, wib(2022, 4, 28)),
        # Due end of Wed 27 Dec 2023: 2 -> Fri 22 Dec (25, 26 off, 23-24 weekend).
        (wib(2023, 12, 28), 2, wib(2023, 12, 22)),
        # A due time that is not a day boundary (Sat 22 Apr 2023 12:00, Eid): the last working day
        # starting before it is Tue 18 Apr.
        (wib(2023, 4, 22, 12), 1, wib(2023, 4, 18)),
        # A due time in the middle of a working day: that day is the last working day.
        (wib(2024, 7, 3, 12), 1, wib(2024, 7, 3)),
        # days == 0 returns due itself.
        (wib(2023, 4, 29), 0, wib(2023, 4, 29)),
    ],
)
def test_subtract_working_days(
    cal: WorkingCalendar, due: datetime, days: int, expected: datetime
) -> None:
    result = subtract_working_days(due, days, cal)
    assert result == expected
    assert_utc(result)
    assert cal.subtract_working_days(due, days) == expected


def test_subtract_working_days_default_calendar_and_errors() -> None:
    assert subtract_working_days(wib(2023, 4, 29), 1) == wib(2023, 4, 28)
    with pytest.raises(ValueError, match="days"):
        subtract_working_days(wib(2023, 4, 29), -1)
    with pytest.raises(ValueError, match="due"):
        subtract_working_days(datetime(2023, 4, 29), 1)
