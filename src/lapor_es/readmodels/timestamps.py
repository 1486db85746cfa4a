"""Timestamps read back from read-model tables, in UTC.

Every read-model timestamp is stored in UTC (`DateTime(timezone=True)`). PostgreSQL hands
it back aware; SQLite stores text and hands it back naive. `as_utc` is the one place that
makes either an aware UTC datetime again.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import overload


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
@overload
def as_utc(value: datetime | None) -> datetime | None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """`value` as an aware UTC datetime (a naive one is UTC already); None stays None."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
