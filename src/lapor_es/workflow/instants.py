"""The one reading of a point in time typed by an operator (`stats --as-of`, `report
--as-of`, `timers --now`, the door's `as_of`), so every command means the same instant.

- a bare date, e.g. 2026-04-01: 00:00 WIB of that day (the end of the day before), as the
  working-day calendar counts days;
- an ISO 8601 date-time with a zone (Z, +07:00, ...): that instant;
- an ISO 8601 date-time without a zone: UTC, as the store records times.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time

from lapor_es.workflow.calendar import JAKARTA

BARE_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def parse_instant(text: str) -> datetime:
    """`text` as an aware UTC datetime; ValueError (saying what is accepted) otherwise."""
    try:
        if BARE_DATE.fullmatch(text):
            day = date.fromisoformat(text)
            return datetime.combine(day, time(0), tzinfo=JAKARTA).astimezone(UTC)
        value = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"not an ISO date (YYYY-MM-DD, 00:00 WIB) or date-time: {text[:40]!r}"
        ) from None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)
