"""`lapor-es inbox` and `lapor-es timeline` end to end, on a fresh SQLite file."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest

from tests.support.builders import DESK, file_cmd
from tests.support.cli import cli

pytestmark = pytest.mark.e2e


def test_inbox_and_timeline_commands(tmp_path: Path) -> None:
    assert cli(tmp_path, "agencies", "load").returncode == 0
    script = [
        file_cmd(at="2026-02-23T02:00:00Z", title="Jalan rusak"),
        {
            "command": "verify",
            "actor": DESK,
            "complaint": "LAP-2026-0000001",
            "title": "Jalan rusak",
            "category": "Jalan",
            "kind": "complaint",
            "visibility": "anonymous",
            "to_agency": "KEMENKES",
            "at": "2026-02-23T03:00:00Z",
        },
        file_cmd(at="2026-02-23T04:00:00Z", visibility="confidential"),
    ]
    proc = cli(tmp_path, "exec", stdin="\n".join(json.dumps(c) for c in script) + "\n")
    assert proc.returncode == 0, proc.stdout

    listed = json.loads(cli(tmp_path, "inbox", "KEMENKES", "--format", "json").stdout)
    assert listed["buckets"]["terdisposisi_belum_ditindaklanjuti"] == 1
    [entry] = listed["complaints"]
    assert (entry["tracking_id"], entry["reporter_display"], entry["forwarding_path"]) == (
        "LAP-2026-0000001",
        "Anonim",
        "KEMENKES",
    )
    assert entry["due_at"] == "2026-03-02T17:00:00+00:00"

    table = cli(tmp_path, "inbox", "KEMENKES", "--no-refresh")
    assert table.returncode == 0 and "LAP-2026-0000001" in table.stdout
    assert "belum ditindaklanjuti 1" in table.stdout
    rows = list(
        csv.DictReader(
            io.StringIO(cli(tmp_path, "inbox", "KEMENKES.ITJEN", "--format", "csv").stdout)
        )
    )
    assert rows == []

    page = json.loads(cli(tmp_path, "timeline", "LAP-2026-0000001", "--format", "json").stdout)
    assert [e["summary"] for e in page["entries"]][-1] == (
        "Laporan diteruskan ke Kementerian Kesehatan (KEMENKES)"
    )
    assert page["entries"][-1]["at"].endswith("+07:00")

    refused = cli(tmp_path, "timeline", "LAP-2026-0000002")
    assert refused.returncode == 1
    assert json.loads(refused.stderr.strip().splitlines()[-1])["code"] == "not_authorized"
