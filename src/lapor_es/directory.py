"""Agency directory files (CSV or JSON) in, RegisterAgency commands out.

Each row is validated on its own; a bad row is reported with its row number and field
and the rest still load, except rows whose parent is itself missing or invalid.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError

from lapor_es.commands import RegisterAgency

if TYPE_CHECKING:
    from lapor_es.application import LaporApp

SYSTEM_ACTOR = {"id": "directory-loader", "role": "national_admin"}
DEFAULT_DIRECTORY = "agencies.csv"


@dataclass
class RowError:
    row: int
    code: str | None
    message: str
    field: str | None = None


@dataclass
class ParsedDirectory:
    commands: list[RegisterAgency] = field(default_factory=list)
    errors: list[RowError] = field(default_factory=list)


def default_directory_text() -> str:
    return (files("lapor_es.data") / DEFAULT_DIRECTORY).read_text(encoding="utf-8")


def read_rows(path: Path | None) -> tuple[str, list[dict[str, Any]]]:
    """Rows of a directory file; the shipped national directory when `path` is None."""
    if path is None:
        return DEFAULT_DIRECTORY, list(csv.DictReader(io.StringIO(default_directory_text())))
    text = path.read_text(encoding="utf-8")
    if path.suffix.lower() == ".json":
        data = json.loads(text)
        rows = data["agencies"] if isinstance(data, dict) else data
        if not isinstance(rows, list):
            raise ValueError('a JSON directory is a list of agencies or {"agencies": [...]}')
        return str(path), rows
    return str(path), list(csv.DictReader(io.StringIO(text)))


def parse_rows(rows: Iterable[dict[str, Any]], known_codes: set[str]) -> ParsedDirectory:
    parsed = ParsedDirectory()
    valid = set(known_codes)
    for number, row in enumerate(rows, start=1):
        data = {k: (v if v not in ("", None) else None) for k, v in row.items()}
        code = data.get("code")
        try:
            command = RegisterAgency.model_validate(
                {"command": "register_agency", "actor": SYSTEM_ACTOR, **data}
            )
        except ValidationError as exc:
            for err in exc.errors():
                parsed.errors.append(
                    RowError(
                        row=number,
                        code=code,
                        message=err["msg"],
                        field=".".join(str(part) for part in err["loc"]),
                    )
                )
            continue
        if command.parent and command.parent not in valid:
            parsed.errors.append(
                RowError(
                    row=number,
                    code=code,
                    field="parent",
                    message=f"parent {command.parent!r} is neither registered "
                    "nor earlier in the file",
                )
            )
            continue
        valid.add(command.code)
        parsed.commands.append(command)
    return parsed


def load_default_directory(app: LaporApp) -> tuple[int, int]:
    """Register the shipped national directory (idempotent). Returns (new, updated)."""
    _, rows = read_rows(None)
    parsed = parse_rows(rows, {a.code for a in app.agencies()})
    return app.register_agencies(parsed.commands)
