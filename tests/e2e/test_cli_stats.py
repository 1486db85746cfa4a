"""`lapor-es stats METRIC` end to end: one command, the same cohort options for every metric."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.builders import DESK, agency_actor, file_cmd
from tests.support.cli import cli

pytestmark = pytest.mark.e2e

COHORT = ("--from", "2026-02-23", "--to", "2026-02-27", "--as-of", "2026-03-10")


def forwarded(number: int, at: str) -> dict[str, Any]:
    return {
        "command": "verify",
        "actor": DESK,
        "complaint": f"LAP-2026-{number:07d}",
        "title": "Jalan rusak",
        "category": "Jalan",
        "kind": "complaint",
        "visibility": "public",
        "to_agency": "KEMENKES",
        "at": at,
    }


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Three filings in one week: two forwarded to KEMENKES, one of them answered."""
    assert cli(tmp_path, "agencies", "load").returncode == 0
    script = [
        file_cmd(at="2026-02-23T02:00:00Z"),
        file_cmd(at="2026-02-24T02:00:00Z"),
        file_cmd(at="2026-02-25T02:00:00Z"),
        forwarded(1, "2026-02-23T03:00:00Z"),
        forwarded(2, "2026-02-24T03:00:00Z"),
        {
            "command": "respond",
            "actor": agency_actor("KEMENKES"),
            "complaint": "LAP-2026-0000001",
            "kind": "final",
            "text": "Jalan sudah diperbaiki oleh dinas terkait pada hari Selasa.",
            "at": "2026-02-24T05:00:00Z",
        },
    ]
    proc = cli(tmp_path, "exec", stdin="\n".join(json.dumps(c) for c in script) + "\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path


def test_completion_counts_the_cohort(store: Path) -> None:
    proc = cli(store, "stats", "completion", *COHORT, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    [row] = json.loads(proc.stdout)["rows"]
    assert (row["filed"], row["verified"], row["followed_up"]) == (3, 2, 1)


def test_the_same_options_serve_every_metric(store: Path) -> None:
    by_agency = cli(store, "stats", "completion", *COHORT, "--by", "agency", "--format", "csv")
    keys = {r["key"]: int(r["filed"]) for r in csv.DictReader(io.StringIO(by_agency.stdout))}
    assert keys == {"KEMENKES": 2, "(none)": 1}

    sla = json.loads(cli(store, "stats", "sla", *COHORT, "--format", "json").stdout)["rows"]
    assert [(r["agency"], r["clocks"]) for r in sla] == [("KEMENKES", 2)]

    ranked = cli(store, "stats", "ranking", *COHORT, "--min-sample", "1", "--format", "json")
    assert [r["agency"] for r in json.loads(ranked.stdout)["rows"]] == ["KEMENKES"]


def test_an_option_the_metric_ignores_is_refused_by_name(store: Path) -> None:
    proc = cli(store, "stats", "ranking", *COHORT, "--by", "agency")
    assert proc.returncode == 2
    assert json.loads(proc.stderr.strip().splitlines()[-1])["error"].startswith(
        "ranking does not take by"
    )


def test_an_unknown_format_or_metric_is_refused(store: Path) -> None:
    assert cli(store, "stats", "completion", *COHORT, "--format", "xml").returncode == 2
    assert cli(store, "stats", "happiness", *COHORT).returncode == 2
