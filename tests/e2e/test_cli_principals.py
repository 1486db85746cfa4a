"""`lapor-es principals add|list|revoke|rotate` end to end: the console script in a
subprocess on a fresh SQLite file; tokens checked against the store the door reads."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine

from lapor_es.auth.principals import SqlPrincipalStore
from tests.support.cli import cli

pytestmark = pytest.mark.e2e
TOKEN = re.compile(r"lpr_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
DIRECTORY = (
    "code,name,kind,parent,region\nLAPOR,Desk,national_desk,,\nKEMENKES,Kemenkes,ministry,LAPOR,\n"
)


def ok_json(tmp_path: Path, *args: str) -> Any:
    proc = cli(tmp_path, *args, "--format", "json")
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def authenticate(tmp_path: Path, token: str, now: datetime | None = None) -> str | None:
    """The name of the principal the token opens, as the door would authenticate it."""
    engine = create_engine(f"sqlite:///{tmp_path}/lapor.sqlite3")
    try:
        principal = SqlPrincipalStore(engine).authenticate(token, now or datetime.now(UTC))
    finally:
        engine.dispose()
    return None if principal is None else principal.name


def test_add_list_rotate_revoke(tmp_path: Path) -> None:
    added = ok_json(tmp_path, "principals", "add", "desk-siti", "--role", "national_admin")
    token = added["token"]
    assert TOKEN.fullmatch(token) and added["ok"] is True
    assert added["principal"] | {"created_at": None} == {
        "id": added["principal"]["id"],
        "name": "desk-siti",
        "role": "national_admin",
        "agency": None,
        "channel": None,
        "status": "active",
        "created_at": None,
        "expires_at": None,
        "revoked_at": None,
    }
    assert authenticate(tmp_path, token) == "desk-siti"
    principal_id = added["principal"]["id"]

    portal = ok_json(
        tmp_path, "principals", "add", "web-portal", "--role", "channel", "--channel", "web"
    )
    listed = cli(tmp_path, "principals", "list", "--format", "json")
    assert listed.returncode == 0, listed.stderr
    assert [(p["name"], p["status"]) for p in json.loads(listed.stdout)] == [
        ("desk-siti", "active"),
        ("web-portal", "active"),
    ]
    as_text = cli(tmp_path, "principals", "list")
    assert "desk-siti" in as_text.stdout and "web-portal" in as_text.stdout
    for output in (listed.stdout + listed.stderr, as_text.stdout + as_text.stderr):
        assert "lpr_" not in output  # never a token
        assert token.rsplit("_", 1)[1] not in output and portal["token"][-43:] not in output

    rotated = ok_json(tmp_path, "principals", "rotate", principal_id)
    assert rotated["token"] != token and rotated["principal"]["id"] == principal_id
    assert authenticate(tmp_path, token) is None
    assert authenticate(tmp_path, rotated["token"]) == "desk-siti"

    revoked = ok_json(tmp_path, "principals", "revoke", principal_id)
    assert revoked["principal"]["status"] == "revoked"
    assert authenticate(tmp_path, rotated["token"]) is None
    assert authenticate(tmp_path, portal["token"]) == "web-portal"
    again = cli(tmp_path, "principals", "rotate", principal_id)
    assert again.returncode == 1
    assert json.loads(again.stderr.splitlines()[-1])["code"] == "invalid_principal"


def test_add_prints_the_token_once_as_text(tmp_path: Path) -> None:
    proc = cli(tmp_path, "principals", "add", "timer", "--role", "system", "--expires-in", "30")
    assert proc.returncode == 0, proc.stderr
    tokens = TOKEN.findall(proc.stdout)
    assert len(tokens) == 1 and "shown once" in proc.stderr.lower()
    in_29_days = datetime.now(UTC) + timedelta(days=29)
    assert authenticate(tmp_path, tokens[0], in_29_days) == "timer"
    assert authenticate(tmp_path, tokens[0], in_29_days + timedelta(days=2)) is None
    listed = json.loads(cli(tmp_path, "principals", "list", "--format", "json").stdout)
    assert listed[0]["expires_at"] is not None


def test_an_agency_admin_is_bound_to_a_known_agency(tmp_path: Path) -> None:
    unknown = cli(
        tmp_path, "principals", "add", "kemenkes", "--role", "agency_admin", "--agency", "KEMENKES"
    )
    assert unknown.returncode == 1
    assert json.loads(unknown.stderr.splitlines()[-1])["code"] == "unknown_agency"

    (tmp_path / "agencies.csv").write_text(DIRECTORY, encoding="utf-8")
    assert cli(tmp_path, "agencies", "load", "agencies.csv").returncode == 0
    added = ok_json(
        tmp_path, "principals", "add", "kemenkes", "--role", "agency_admin", "--agency", "KEMENKES"
    )
    assert added["principal"]["agency"] == "KEMENKES"


@pytest.mark.parametrize(
    ("args", "status", "code"),
    [
        (["add", "x", "--role", "agency_admin"], 1, "invalid_principal"),
        (["add", "x", "--role", "channel"], 1, "invalid_principal"),
        (["add", "x", "--role", "auditor", "--channel", "web"], 1, "invalid_principal"),
        (["add", "x", "--role", "superuser"], 2, None),
        (["add", "x", "--role", "channel", "--channel", "fax"], 2, None),
        (["add", "x", "--role", "analyst", "--expires-in", "0"], 2, None),
        (["revoke", "0123456789ab"], 1, "unknown_principal"),
        (["rotate", "0123456789ab"], 1, "unknown_principal"),
    ],
)
def test_mistakes_are_refused(
    tmp_path: Path, args: list[str], status: int, code: str | None
) -> None:
    proc = cli(tmp_path, "principals", *args)
    assert proc.returncode == status, proc.stdout + proc.stderr
    assert "lpr_" not in proc.stdout
    if code is not None:
        assert json.loads(proc.stderr.splitlines()[-1])["code"] == code


def test_a_name_is_taken_for_good(tmp_path: Path) -> None:
    first = ok_json(tmp_path, "principals", "add", "desk-1", "--role", "national_admin")
    ok_json(tmp_path, "principals", "revoke", first["principal"]["id"])
    again = cli(tmp_path, "principals", "add", "desk-1", "--role", "auditor")
    assert again.returncode == 1
    assert "exists already" in again.stderr
