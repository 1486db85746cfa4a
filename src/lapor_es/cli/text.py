"""Helpers for the text views (Rich): user text printed as text, times printed in WIB.

Rich reads `[...]` as markup, so a title like "[URGENT] Jalan [b]rusak" lost its brackets
and "[erased]" vanished (issue 10 item 9a). Every string that came from a user or the store
goes through `plain` before it reaches a Rich console or table; markup is only ever ours.
"""

from __future__ import annotations

from datetime import datetime

from rich.markup import escape

from lapor_es.workflow import JAKARTA


def plain(value: object) -> str:
    """`value` as text that Rich prints exactly as it is (None: empty)."""
    return "" if value is None else escape(str(value))


def wib(value: datetime | str | None) -> str:
    """A time as Jakarta's wall clock, e.g. "23-02-2026 09:00 WIB" (None: empty)."""
    if value is None:
        return ""
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.astimezone(JAKARTA).strftime("%d-%m-%Y %H:%M WIB")


def named(code: str | None, name: str | None) -> str:
    """An agency as "Name (CODE)", or its code alone when the name is unknown."""
    if not code:
        return ""
    return plain(f"{name} ({code})" if name else code)
