"""`lapor-es exec` and `show` for a reporter the channel knows only by a phone number (issue 10
item 8): the real console script in a subprocess, on a fresh SQLite file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.support.cli import cli

pytestmark = pytest.mark.e2e

SMS = {
    "command": "file",
    "actor": {"id": "sms-gateway", "role": "reporter"},
    "channel": "sms-1708",
    "title": "Lampu jalan mati",
    "description": "Lampu jalan di Jalan Merdeka mati sejak tiga hari.",
    "reporter": {"phone": "081311112222"},
}


def test_an_sms_line_files_with_only_a_phone_and_the_desk_sees_the_number(
    tmp_path: Path,
) -> None:
    refused = dict(SMS, reporter={"email": "warga@example.id"})  # an SMS without a number
    again = dict(SMS, reporter={"phone": "+6281311112222"})  # the same number, another form
    script = "\n".join(json.dumps(line) for line in (SMS, refused, again)) + "\n"
    proc = cli(tmp_path, "exec", stdin=script)
    first, second, third = (json.loads(line) for line in proc.stdout.splitlines())
    assert first["ok"] is True, first
    assert second["ok"] is False and second["error"]["code"] == "validation_error"
    assert second["error"]["details"][0]["rule"] == "channel_identity"
    assert third["ok"] is True and third["reporter_ref"] == first["reporter_ref"]

    shown = cli(tmp_path, "show", first["tracking_id"], "--as", "national")
    assert shown.returncode == 0, shown.stderr
    assert "reporter: 081311112222" in shown.stdout
