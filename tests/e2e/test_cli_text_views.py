"""The text views print what users wrote, exactly (issue 10 item 9a: Rich read
"[URGENT] Jalan [b]rusak" as markup and "[erased]" vanished), and the commands refuse in one
line what they cannot do (9b: `timers --now` ahead of real time; 9c: `inbox` of an unknown
agency). The real `lapor-es` command in a subprocess, on a fresh SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.builders import DESK, file_cmd
from tests.support.cli import cli

pytestmark = pytest.mark.e2e

TITLE = "[URGENT] Jalan [b]rusak"
WIDE = {"COLUMNS": "200"}  # a table cell must not wrap the title


def test_user_text_is_printed_as_written_not_as_markup(tmp_path: Path) -> None:
    assert cli(tmp_path, "agencies", "load").returncode == 0
    script = [
        file_cmd(at="2026-02-23T02:00:00Z", title=TITLE),
        {
            "command": "verify",
            "actor": DESK,
            "complaint": "LAP-2026-0000001",
            "title": TITLE,
            "category": "Jalan",
            "kind": "complaint",
            "visibility": "public",
            "to_agency": "KEMENKES",
            "at": "2026-02-23T03:00:00Z",
        },
    ]
    filed = cli(tmp_path, "exec", stdin="\n".join(json.dumps(c) for c in script) + "\n")
    assert filed.returncode == 0, filed.stdout
    ref = json.loads(filed.stdout.splitlines()[0])["reporter_ref"]
    erase = {"command": "erase_reporter", "actor": DESK, "reporter_ref": ref, "reason": "UU PDP"}
    assert cli(tmp_path, "exec", stdin=json.dumps(erase) + "\n").returncode == 0

    shown = cli(tmp_path, "show", "LAP-2026-0000001", "--as", "national", env=WIDE)
    assert shown.returncode == 0, shown.stderr
    assert TITLE in shown.stdout
    assert "reporter: [erased]" in shown.stdout
    assert "23-02-2026 09:00 WIB" in shown.stdout  # times in WIB

    inbox = cli(tmp_path, "inbox", "KEMENKES", env=WIDE)
    assert inbox.returncode == 0, inbox.stderr
    assert TITLE in inbox.stdout

    page = cli(tmp_path, "timeline", "LAP-2026-0000001", env=WIDE)
    assert page.returncode == 0, page.stderr
    assert TITLE in page.stdout
    assert "Kementerian Kesehatan (KEMENKES)" in page.stdout


def test_an_unknown_agency_has_no_inbox(tmp_path: Path) -> None:
    assert cli(tmp_path, "agencies", "load").returncode == 0
    refused = cli(tmp_path, "inbox", "NOPE")
    assert refused.returncode == 1
    error = json.loads(refused.stderr.strip().splitlines()[-1])
    assert error["code"] == "unknown_agency" and "NOPE" in error["message"]
    assert refused.stdout == ""


def test_timers_refuse_a_now_ahead_of_real_time_in_one_line(tmp_path: Path) -> None:
    filed = cli(tmp_path, "exec", stdin=json.dumps(file_cmd(at="2026-11-03T02:00:00Z")) + "\n")
    assert filed.returncode == 0, filed.stdout
    refused = cli(tmp_path, "timers", "--now", "2029-03-01")
    assert refused.returncode == 2
    assert "Traceback" not in refused.stderr and "ValidationError" not in refused.stderr
    [line] = refused.stderr.strip().splitlines()
    assert json.loads(line) == {"ok": False, "error": json.loads(line)["error"]}
    assert "--now" in line and "in the future" in line
