"""Progress bars: drawn on stderr when asked (or on a terminal without JSON logs), never
on stdout, whose one JSON line stays parseable."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from lapor_es.cli import progress as pg
from tests.support.builders import file_cmd
from tests.support.cli import cli

pytestmark = pytest.mark.e2e


@pytest.fixture
def store(tmp_path: Path) -> Path:
    script = [file_cmd(at=f"2026-02-2{n}T02:00:00Z") for n in range(3, 6)]
    proc = cli(tmp_path, "exec", stdin="\n".join(json.dumps(c) for c in script) + "\n")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return tmp_path


def test_project_catch_up_draws_a_bar_when_asked(store: Path) -> None:
    proc = cli(store, "project", "--until-caught-up", "--only", "complaints", "--progress")
    assert proc.returncode == 0, proc.stderr
    assert "projecting" in proc.stderr and "events/s" in proc.stderr
    assert json.loads(proc.stdout)["events"] == 3


def test_no_bar_off_a_terminal_by_default(store: Path) -> None:
    proc = cli(store, "project", "--until-caught-up", "--only", "complaints")
    assert proc.returncode == 0, proc.stderr
    assert "projecting" not in proc.stderr


def test_audit_verify_draws_a_bar_when_asked(store: Path) -> None:
    proc = cli(store, "audit", "verify", "--store-only", "--progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "verifying" in proc.stderr


def test_simulate_draws_a_bar_when_asked(tmp_path: Path) -> None:
    proc = cli(tmp_path, "simulate", "--complaints", "30", "--days", "5", "--progress")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "simulating" in proc.stderr
    assert json.loads(proc.stdout.splitlines()[0])["complaints_filed"] == 30


class Settings:
    def __init__(self, log_format: str) -> None:
        self.log_format = log_format


@pytest.mark.parametrize(
    ("flag", "tty", "log_format", "expected"),
    [
        (None, True, "auto", True),  # a terminal with console logs: on
        (None, True, "console", True),
        (None, True, "json", False),  # JSON logs: a bar would garble them
        (None, False, "auto", False),  # not a terminal: off
        (True, False, "json", True),  # asked for: on
        (False, True, "console", False),  # refused: off
    ],
)
def test_when_a_bar_is_wanted(
    monkeypatch: pytest.MonkeyPatch, flag: bool | None, tty: bool, log_format: str, expected: bool
) -> None:
    monkeypatch.setattr(sys.stderr, "isatty", lambda: tty)
    assert pg.wanted(flag, Settings(log_format)) is expected
