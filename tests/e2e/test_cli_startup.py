"""A command that cannot reach its database or broker at start says so in ONE line on stderr,
naming host and port (never the password), and exits 3: no traceback, no endless retry."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.cli import cli
from tests.support.kafka import free_port

pytestmark = pytest.mark.e2e

PASSWORD = "s3cret-startup-pw"
EXIT_STARTUP_FAILED = 3


def assert_one_startup_line(result: subprocess.CompletedProcess[str], *names: str) -> None:
    """Exit 3, nothing on stdout, one JSON line on stderr naming each of `names`."""
    assert result.returncode == EXIT_STARTUP_FAILED, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    assert PASSWORD not in result.stderr + result.stdout
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr[-2000:]
    line = json.loads(lines[0])
    assert line["event"] == "startup.failed" and line["level"] == "error"
    for name in names:
        assert name in line["error"], line["error"]


def unreachable_database() -> tuple[str, str]:
    """A PostgreSQL URL with a password on a port nobody listens on, and its host:port."""
    port = free_port()
    return f"postgresql://lapor:{PASSWORD}@127.0.0.1:{port}/lapor", f"127.0.0.1:{port}"


@pytest.mark.parametrize(
    "command", [["status"], ["relay"], ["project"], ["show", "LAP-2026-0000001"]], ids=" ".join
)
def test_an_unreachable_database_is_one_line(tmp_path: Path, command: list[str]) -> None:
    url, where = unreachable_database()
    result = cli(tmp_path, *command, env={"LAPOR_DATABASE_URL": url})
    assert_one_startup_line(result, "database", where, "refused")


def webhook_key(tmp_path: Path) -> str:
    made = cli(tmp_path, "webhooks", "new-key")
    assert made.returncode == 0, made.stderr
    return made.stdout.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("command", "worker"),
    [
        (["project", "--from-kafka"], "the projector"),
        (["notify", "--kafka"], "the notifier"),
        (["webhooks", "deliver"], "the webhook sender"),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) else v,
)
def test_an_unreachable_broker_is_one_line(tmp_path: Path, command: list[str], worker: str) -> None:
    bootstrap = f"127.0.0.1:{free_port()}"
    env = {
        "LAPOR_KAFKA_BOOTSTRAP": bootstrap,
        "LAPOR_NOTIFY_SMTP_HOST": "127.0.0.1",  # notify refuses to start without a channel
        "LAPOR_WEBHOOKS_SECRET_KEY": webhook_key(tmp_path),  # deliver: likewise
    }
    result = cli(tmp_path, *command, env=env)
    assert_one_startup_line(result, worker, bootstrap)


@pytest.mark.integration
@pytest.mark.kafka
def test_webhooks_deliver_without_its_database_is_one_line(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    url, where = unreachable_database()
    env = {
        "LAPOR_DATABASE_URL": url,
        "LAPOR_KAFKA_BOOTSTRAP": kafka_bootstrap,
        "LAPOR_WEBHOOKS_SECRET_KEY": webhook_key(tmp_path),
    }
    result = cli(tmp_path, "webhooks", "deliver", env=env)
    assert_one_startup_line(result, "database", where)
