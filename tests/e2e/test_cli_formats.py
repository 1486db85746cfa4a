"""Every `--format` is a closed choice, and `agencies list --format csv` is real CSV."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.support.cli import cli

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize(
    "command",
    [
        ("status",),
        ("dlq", "list"),
        ("show", "LAP-2026-0000001"),
        ("agencies", "list"),
        ("inbox", "KEMENKES"),
        ("timeline", "LAP-2026-0000001"),
        ("audit", "verify"),
        ("stats", "completion", "--from", "2026-01-01", "--to", "2026-01-31"),
        ("export", "--out", "out"),
    ],
)
def test_an_unknown_format_exits_2_naming_the_choices(
    tmp_path: Path, command: tuple[str, ...]
) -> None:
    proc = cli(tmp_path, *command, "--format", "xml")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "'xml' is not one of" in proc.stderr
    assert proc.stdout == ""


def test_agencies_csv_quotes_names_with_commas(tmp_path: Path) -> None:
    assert cli(tmp_path, "agencies", "load").returncode == 0
    proc = cli(tmp_path, "agencies", "list", "--format", "csv", "--kind", "ministry")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(io.StringIO(proc.stdout)))
    assert list(rows[0]) == ["code", "name", "kind", "parent", "region"]
    by_code = {r["code"]: r for r in rows}
    assert by_code["KEMENKOPOLHUKAM"]["name"] == (
        "Kementerian Koordinator Bidang Politik, Hukum, dan Keamanan"
    )
    assert {r["kind"] for r in rows} == {"ministry"}
    assert by_code["KEMENKES"]["parent"] == "LAPOR"
