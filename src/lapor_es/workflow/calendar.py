"""Indonesian working-day calendar and the deadline arithmetic used by every SLA clock.

Working days are Monday to Friday that are neither national public holidays nor (by default)
government collective leave days (*cuti bersama*), as published by the ``holidays`` package
(``holidays.Indonesia(categories=("public", "government"))``). All day arithmetic happens on the
local calendar of Asia/Jakarta (WIB, UTC+7, no daylight saving).

Deadline semantics (used everywhere)
------------------------------------
A limit of ``n`` working days started at instant ``s`` ends at the *end* of the ``n``-th working
day strictly after the local (WIB) date of ``s``, i.e. at 00:00 WIB of the following calendar day.
The day the clock starts never counts, whatever the hour. Equivalently: a working day counts
toward a clock iff the clock is already running at 00:00 WIB of that day. Deadlines are returned
as timezone-aware UTC datetimes.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

from holidays.countries.indonesia import Indonesia

__all__ = [
    "JAKARTA",
    "WorkingCalendar",
    "ensure_aware",
    "subtract_working_days",
]

JAKARTA: Final = ZoneInfo("Asia/Jakarta")

_ONE_DAY: Final = timedelta(days=1)
_EPSILON: Final = timedelta(microseconds=1)
_EXTRA_HOLIDAY_NAME: Final = "Extra holiday"

log = logging.getLogger(__name__)
# Years already warned about (once per process, whatever the number of calendars).
_UNDECREED_WARNED: set[int] = set()
_UNDECREED_LOCK: Final = threading.Lock()


def warn_if_undecreed(year: int) -> bool:
    """Log once per process when the ``holidays`` package has no cuti bersama for ``year``.

    Collective leave is decreed year by year (SKB of three ministers, usually the autumn
    before), so a release knows only the years decreed when it was cut; for a later year
    those days silently count as working days. The warning names the fix: a newer
    ``holidays`` release, or the days in LAPOR_CALENDAR_EXTRA_HOLIDAYS. Returns whether
    ``year`` lacks the data.
    """
    if Indonesia(years=year, categories=("government",)):
        return False
    with _UNDECREED_LOCK:
        first = year not in _UNDECREED_WARNED
        _UNDECREED_WARNED.add(year)
    if first:
        log.warning(
            "calendar: the holidays package (%s) has no cuti bersama decreed for %d; "
            "collective leave days of %d count as working days until holidays is upgraded "
            "or they are listed in LAPOR_CALENDAR_EXTRA_HOLIDAYS",
            _holidays_version(),
            year,
            year,
        )
    return True


def _holidays_version() -> str:
    from importlib.metadata import version

    return version("holidays")


def ensure_aware(value: datetime, name: str) -> datetime:
    """Return ``value`` unchanged if it is timezone-aware, else raise ``ValueError`` naming it."""
    if not isinstance(value, datetime):
        raise TypeError(f"{name} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        raise ValueError(f"{name} must be timezone-aware, got naive datetime {value.isoformat()}")
    return value


def _local_date(value: datetime) -> date:
    return value.astimezone(JAKARTA).date()


def _start_of(d: date) -> datetime:
    """00:00 WIB of ``d`` as a UTC datetime."""
    return datetime.combine(d, time(0), tzinfo=JAKARTA).astimezone(UTC)


class WorkingCalendar:
    """The Indonesian government working-day calendar (immutable after construction).

    Precedence for a date ``d``: ``extra_working_days`` (a decree moved a day: ``d`` is a working
    day even on a weekend or holiday) > ``extra_holidays`` > the ``holidays`` package (public
    holidays, plus collective leave when ``include_collective_leave``) > Saturday/Sunday.

    Holiday data is loaded lazily per year and cached, and each day's answer is memoized; the
    caches are the only internal state that changes after construction and they do not change
    any answer.
    """

    __slots__ = (
        "_cache",
        "_categories",
        "_extra_holidays",
        "_extra_working_days",
        "_include_collective_leave",
        "_lock",
        "_working",
    )

    _extra_holidays: frozenset[date]
    _extra_working_days: frozenset[date]
    _include_collective_leave: bool
    _categories: tuple[str, ...]
    _cache: dict[int, Mapping[date, str]]
    _lock: threading.Lock
    _working: dict[date, bool]

    def __init__(
        self,
        *,
        extra_holidays: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
        include_collective_leave: bool = True,
    ) -> None:
        extra_h = frozenset(_as_date(d, "extra_holidays") for d in extra_holidays)
        extra_w = frozenset(_as_date(d, "extra_working_days") for d in extra_working_days)
        clash = extra_h & extra_w
        if clash:
            listed = ", ".join(sorted(d.isoformat() for d in clash))
            raise ValueError(f"dates both in extra_holidays and extra_working_days: {listed}")
        setter = object.__setattr__
        setter(self, "_extra_holidays", extra_h)
        setter(self, "_extra_working_days", extra_w)
        setter(self, "_include_collective_leave", bool(include_collective_leave))
        setter(
            self,
            "_categories",
            ("public", "government") if include_collective_leave else ("public",),
        )
        setter(self, "_cache", {})
        setter(self, "_lock", threading.Lock())
        setter(self, "_working", {})

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __delattr__(self, name: str) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(extra_holidays={sorted(self._extra_holidays)!r}, "
            f"extra_working_days={sorted(self._extra_working_days)!r}, "
            f"include_collective_leave={self._include_collective_leave!r})"
        )

    @property
    def extra_holidays(self) -> frozenset[date]:
        return self._extra_holidays

    @property
    def extra_working_days(self) -> frozenset[date]:
        return self._extra_working_days

    @property
    def include_collective_leave(self) -> bool:
        return self._include_collective_leave

    # -- day predicates -------------------------------------------------------------------

    def _year(self, year: int) -> Mapping[date, str]:
        cached = self._cache.get(year)
        if cached is not None:
            return cached
        with self._lock:
            cached = self._cache.get(year)
            if cached is None:
                if self._include_collective_leave:
                    warn_if_undecreed(year)
                source = Indonesia(years=year, categories=self._categories)
                cached = {d: "; ".join(source.get_list(d)) for d in source}
                self._cache[year] = cached
            return cached

    def holiday_name(self, d: date) -> str | None:
        """Name of the holiday / collective-leave day on ``d``, or ``None``.

        Weekends are not holidays (``None``); a day listed in ``extra_working_days`` has no
        holiday name.
        """
        d = _as_date(d, "d")
        if d in self._extra_working_days:
            return None
        if d in self._extra_holidays:
            return _EXTRA_HOLIDAY_NAME
        return self._year(d.year).get(d)

    def is_working_day(self, d: date) -> bool:
        # Memoized per date: the projector asks about the same few hundred days hundreds of
        # thousands of times (durations, ladders). A datetime never equals a date key, so it
        # still reaches _as_date's TypeError.
        known = self._working.get(d)
        if known is not None:
            return known
        d = _as_date(d, "d")
        if d in self._extra_working_days:
            working = True
        elif d.weekday() >= 5:
            working = False
        else:
            working = self.holiday_name(d) is None
        self._working[d] = working
        return working

    def next_working_day(self, d: date) -> date:
        """The first working day strictly after ``d``."""
        d = _as_date(d, "d") + _ONE_DAY
        while not self.is_working_day(d):
            d += _ONE_DAY
        return d

    def previous_working_day(self, d: date) -> date:
        """The last working day strictly before ``d``."""
        d = _as_date(d, "d") - _ONE_DAY
        while not self.is_working_day(d):
            d -= _ONE_DAY
        return d

    # -- deadline arithmetic --------------------------------------------------------------

    def add_working_days(self, start: datetime, days: int) -> datetime:
        """Deadline of a ``days``-working-day limit started at ``start`` (UTC, tz-aware).

        The result is 00:00 WIB of the calendar day after the ``days``-th working day strictly
        after the WIB date of ``start`` (the end of that working day). ``days == 0`` gives the end
        of the WIB day of ``start``. Negative ``days`` raise ``ValueError``; a naive ``start``
        raises ``ValueError``.
        """
        ensure_aware(start, "start")
        if isinstance(days, bool) or not isinstance(days, int):
            raise TypeError(f"days must be an int, got {type(days).__name__}")
        if days < 0:
            raise ValueError(f"days must be >= 0, got {days}")
        d = _local_date(start)
        for _ in range(days):
            d = self.next_working_day(d)
        return _start_of(d + _ONE_DAY)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Number of working days ``d`` with ``date(start) < d <= date(end)`` (WIB dates).

        Negative (minus the count of working days ``d`` with ``date(end) < d <= date(start)``)
        when ``end`` is on an earlier WIB date than ``start``. Consistent with
        :meth:`add_working_days`: ``working_days_between(s, add_working_days(s, n) - 1µs) == n``.
        """
        ensure_aware(start, "start")
        ensure_aware(end, "end")
        lo, hi = _local_date(start), _local_date(end)
        sign = 1
        if hi < lo:
            lo, hi, sign = hi, lo, -1
        count = 0
        d = lo + _ONE_DAY
        while d <= hi:
            if self.is_working_day(d):
                count += 1
            d += _ONE_DAY
        return sign * count

    def working_days_left(self, now: datetime, due: datetime) -> int:
        """Working days left from ``now`` until the deadline ``due``.

        Let the *due day* be the WIB date of the last instant before ``due`` (for a deadline made
        by :meth:`add_working_days`, the last working day of the limit). Then the result is
        ``working_days_between(now, due - 1µs)``:

        * ``k > 0``: ``k`` working days after today's date up to and including the due day;
        * ``0``: ``now`` is on the due day (or on non-working days right after it, still 0);
        * ``-k``: ``k`` working days have fully started after the due day, e.g. ``-2`` on the
          second working day after the due day (two working days overdue).

        Whether the deadline has passed is ``now >= due``; this count alone cannot tell on the
        due day's evening versus the weekend after it.
        """
        ensure_aware(now, "now")
        ensure_aware(due, "due")
        return self.working_days_between(now, due - _EPSILON)

    def subtract_working_days(self, due: datetime, days: int) -> datetime:
        """See :func:`subtract_working_days`."""
        return subtract_working_days(due, days, self)


def subtract_working_days(
    due: datetime, days: int, calendar: WorkingCalendar | None = None
) -> datetime:
    """The instant from which only ``days`` working days remain before ``due`` (UTC).

    Let ``L`` be the last working day whose 00:00 WIB is strictly before ``due`` (for a deadline
    made by ``add_working_days`` that is the due day itself). The result is 00:00 WIB of the
    ``days``-th working day counting backwards from ``L`` inclusive: ``days == 1`` gives the start
    of ``L``, ``days == 2`` the start of the working day before ``L``, and so on. ``days == 0``
    returns ``due`` itself (in UTC). Negative ``days`` raise ``ValueError``.

    It inverts :meth:`WorkingCalendar.add_working_days`: it is the earliest instant ``t`` with
    ``add_working_days(t, days) > due``; every instant before it still fits ``days`` working days
    before ``due``. Used for the SLA warning time (``days = warn_before_days``).
    """
    cal = calendar if calendar is not None else _default_calendar()
    ensure_aware(due, "due")
    if isinstance(days, bool) or not isinstance(days, int):
        raise TypeError(f"days must be an int, got {type(days).__name__}")
    if days < 0:
        raise ValueError(f"days must be >= 0, got {days}")
    if days == 0:
        return due.astimezone(UTC)
    # Last working day L whose start is strictly before due.
    d = _local_date(due - _EPSILON)
    if not cal.is_working_day(d):
        d = cal.previous_working_day(d)
    for _ in range(days - 1):
        d = cal.previous_working_day(d)
    return _start_of(d)


_DEFAULT: list[WorkingCalendar] = []


def _default_calendar() -> WorkingCalendar:
    if not _DEFAULT:
        _DEFAULT.append(WorkingCalendar())
    return _DEFAULT[0]


def _as_date(value: date, name: str) -> date:
    if isinstance(value, datetime):
        raise TypeError(f"{name} must be a date, not a datetime")
    if not isinstance(value, date):
        raise TypeError(f"{name} must be a date, got {type(value).__name__}")
    return value
