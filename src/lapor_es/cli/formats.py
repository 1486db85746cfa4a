"""The `--format` choices of the commands, as enums: Typer refuses any other value with
exit status 2 and lists the choices (a free string once let `status --format xml` print a
table and exit 0)."""

from __future__ import annotations

from enum import StrEnum


class TableFormat(StrEnum):
    """Rows: a terminal table, JSON or CSV."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"


class TableOrJson(StrEnum):
    TABLE = "table"
    JSON = "json"


class TextOrJson(StrEnum):
    TEXT = "text"
    JSON = "json"
