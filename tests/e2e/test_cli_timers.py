"""`lapor-es timers` end to end: the console script in a subprocess, on a fresh SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.builders import file_cmd
from tests.support.cli import cli

pytestmark = pytest.mark.e2e


def test_timers_once_with_an_injected_now_fires_due_steps_once(tmp_path: Path) -> None:
    # Filed Mon 3 Nov 2025 09:00 WIB: verification 4, 5, 6 Nov, due 2025-11-06T17:00Z;
    # warning at 6 Nov 00:00 WIB (2025-11-05T17:00Z).
    filed = cli(tmp_path, "exec", stdin=json.dumps(file_cmd(at="2025-11-03T02:00:00Z")) + "\n")
    assert filed.returncode == 0, filed.stderr

    early = cli(tmp_path, "timers", "--once", "--now", "2025-11-05T16:59:59Z")
    assert early.returncode == 0, early.stderr
    assert json.loads(early.stdout)["recorded"] == {}

    due = cli(tmp_path, "timers", "--now", "2025-11-06T17:00:00Z")
    assert due.returncode == 0, due.stderr
    assert json.loads(due.stdout) == {
        "ok": True,
        "recorded": {"breach_sla": 1, "escalate": 1, "warn_sla": 1},
        "already_recorded": 0,
        "moved_on": 0,
        "failed": 0,
    }
    logged = [json.loads(line) for line in due.stderr.splitlines() if line.startswith("{")]
    assert [e["command"] for e in logged if e["event"] == "sla_timer.recorded"] == [
        "warn_sla",
        "breach_sla",
        "escalate",
    ]

    again = cli(tmp_path, "timers", "--now", "2025-11-06T17:00:00Z")
    assert json.loads(again.stdout)["recorded"] == {}


def test_timers_rejects_a_malformed_now(tmp_path: Path) -> None:
    proc = cli(tmp_path, "timers", "--now", "next tuesday")
    assert proc.returncode == 2
    assert "--now" in proc.stderr
