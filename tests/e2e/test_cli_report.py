"""`lapor-es report` and `lapor-es export` end to end, the page rendered by headless Chromium."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq  # type: ignore[import-untyped]
import pytest

from lapor_es.readmodels.report_page import CHART_TITLES
from tests.support.builders import DESK, agency_actor, file_cmd
from tests.support.cli import cli

pytestmark = pytest.mark.e2e

COHORT = ("--from", "2026-01-26", "--to", "2026-02-27", "--as-of", "2026-03-10")


def verified(number: int, at: str, agency: str) -> dict[str, Any]:
    return {
        "command": "verify",
        "actor": DESK,
        "complaint": f"LAP-2026-{number:07d}",
        "title": "Jalan rusak",
        "category": "Jalan",
        "kind": "complaint",
        "visibility": "public",
        "to_agency": agency,
        "at": at,
    }


@pytest.fixture
def store(tmp_path: Path) -> Path:
    """Four filings over two months: three forwarded (a ministry and a province), one
    answered, one left at the desk."""
    assert cli(tmp_path, "agencies", "load").returncode == 0
    script = [
        file_cmd(at="2026-01-27T02:00:00Z"),
        file_cmd(at="2026-02-23T02:00:00Z"),
        file_cmd(at="2026-02-24T02:00:00Z"),
        file_cmd(at="2026-02-25T02:00:00Z"),
        verified(1, "2026-01-27T03:00:00Z", "KEMENKES"),
        verified(2, "2026-02-23T03:00:00Z", "KEMENKES"),
        verified(3, "2026-02-24T03:00:00Z", "PROV-JABAR"),
        {
            "command": "respond",
            "actor": agency_actor("KEMENKES"),
            "complaint": "LAP-2026-0000001",
            "kind": "final",
            "text": "Jalan sudah diperbaiki oleh dinas terkait pada hari Selasa.",
            "at": "2026-01-28T05:00:00Z",
        },
    ]
    proc = cli(tmp_path, "exec", stdin="\n".join(json.dumps(c) for c in script) + "\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path


def chromium() -> str:
    """The Chromium binary; in CI a missing browser fails the test (.ci/run installs it)."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    if os.environ.get("CI") == "true":
        pytest.fail("chromium is not installed (apt-get install -y chromium)")
    pytest.skip("chromium is not installed")


def rendered_dom(page: Path) -> str:
    """The page's DOM after its scripts ran, as headless Chromium serialises it."""
    proc = subprocess.run(
        [
            chromium(),
            "--headless",
            "--no-sandbox",  # CI runs as root
            "--disable-gpu",
            "--virtual-time-budget=20000",  # let plotly draw before the DOM is dumped
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_report_page_renders_every_chart_in_chromium(store: Path) -> None:
    page = store / "report.html"
    proc = cli(store, "report", *COHORT, "--out", str(page), "--min-sample", "1")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    source = page.read_text(encoding="utf-8")
    # Self-contained: plotly.js is inline, nothing is loaded from elsewhere.
    assert not re.search(r"<script[^>]+src=", source)
    assert 'class="main-svg"' not in source  # drawn by the browser, not shipped drawn

    dom = rendered_dom(page)
    for title in CHART_TITLES:
        # plotly writes each title into the chart's SVG as a text element
        assert f'data-unformatted="{title}"' in dom, title
    assert dom.count('class="main-svg"') >= len(CHART_TITLES)
    # the bars: one trace group per series, drawn with paths
    assert dom.count('class="trace bars"') >= 2 * 3 + 1 + 5 + 2
    # Tick labels as drawn: both months (as categories, not dates read into "Feb 1") and
    # the tiers of KEMENKES and PROV-JABAR.
    for label in ("2026-01", "2026-02", "ministry", "province", "(none)"):
        assert f'data-unformatted="{label}"' in dom, label


def test_report_rejects_a_bad_cohort(store: Path) -> None:
    proc = cli(store, "report", "--from", "2026-03-01", "--to", "2026-02-01", "--out", "r.html")
    assert proc.returncode == 2
    assert not (store / "r.html").exists()


def test_export_writes_every_table_and_view_as_csv(store: Path) -> None:
    proc = cli(store, "export", "--out", "out")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    written = {
        Path(line["file"]).name: line["rows"]
        for line in map(json.loads, proc.stdout.split("\n")[:-1])
    }
    assert written["complaint_facts.csv"] == 4
    assert written["complaint_forwardings.csv"] == 3
    assert {"v_complaints.csv", "v_daily_counts.csv", "v_agency_sla.csv"} <= set(written)
    with (store / "out" / "complaint_facts.csv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    assert sorted(r["tracking_id"] for r in rows) == [f"LAP-2026-{n:07d}" for n in (1, 2, 3, 4)]
    assert {r["agency"] for r in rows} == {"KEMENKES", "PROV-JABAR", ""}


def test_export_parquet_reads_back(store: Path) -> None:
    proc = cli(store, "export", "--out", "out", "--format", "parquet")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    facts = pq.read_table(store / "out" / "complaint_facts.parquet")
    assert facts.num_rows == 4
    assert sorted(facts.column("tracking_id").to_pylist())[0] == "LAP-2026-0000001"
    sla = pq.read_table(store / "out" / "v_agency_sla.parquet").to_pylist()
    assert {r["agency"] for r in sla} == {"KEMENKES", "PROV-JABAR"}


def test_export_rejects_an_unknown_format(store: Path) -> None:
    proc = cli(store, "export", "--out", "out", "--format", "xlsx")
    assert proc.returncode == 2
    assert not (store / "out").exists()
