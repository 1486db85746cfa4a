"""Command validation at the edge: every rule names its field. No I/O."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from lapor_es.commands import COMMAND_NAMES, MAX_TEXT, FileComplaint, parse_command
from tests.support.builders import DESK, file_cmd


def fields_of(exc: ValidationError) -> set[str]:
    return {".".join(str(p) for p in e["loc"][1:]) for e in exc.errors()}


def rejected(command: dict[str, Any]) -> set[str]:
    with pytest.raises(ValidationError) as info:
        parse_command(command)
    return fields_of(info.value)


def test_a_valid_filing_parses_with_defaults() -> None:
    cmd = parse_command(file_cmd())
    assert isinstance(cmd, FileComplaint)
    assert cmd.kind == "complaint" and cmd.visibility == "public" and cmd.at is None


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"channel": "fax"}, "channel"),
        ({"kind": "rant"}, "kind"),
        ({"visibility": "secret"}, "visibility"),
        ({"title": "ab"}, "title"),
        ({"description": "short"}, "description"),
        ({"description": "x" * (MAX_TEXT + 1)}, "description"),
        ({"target_agency": "not a code"}, "target_agency"),
        ({"reporter": {"name": "Dewi", "phone": "12345"}}, "reporter.phone"),
        ({"reporter": {"name": "Dewi", "nik": "12345"}}, "reporter.nik"),
        ({"reporter": {"name": "Dewi", "email": "not-an-email"}}, "reporter.email"),
        ({"reporter": {"name": "Dewi"}}, "reporter"),
        ({"at": "2026-01-01T10:00:00"}, "at"),  # naive: no timezone
        ({"at": (datetime.now(UTC) + timedelta(days=1)).isoformat()}, "at"),
        ({"at": "2005-01-01T10:00:00+07:00"}, "at"),
        ({"idempotency_key": "short"}, "idempotency_key"),
        ({"unexpected": 1}, "unexpected"),
        ({"actor": {"id": "x", "role": "agency_admin"}}, "actor"),
        ({"actor": {"id": "x", "role": "reporter", "agency": "KEMENKES"}}, "actor"),
    ],
)
def test_each_rule_names_its_field(override: dict[str, Any], field: str) -> None:
    assert field in rejected(file_cmd(**override))


def test_unknown_command_is_named() -> None:
    with pytest.raises(ValidationError) as info:
        parse_command({"command": "teleport", "actor": DESK})
    assert info.value.errors()[0]["type"] == "union_tag_invalid"


def test_complaint_reference_must_be_a_tracking_id_or_uuid() -> None:
    ok = {"command": "start", "actor": DESK}
    parse_command(ok | {"complaint": "LAP-2026-0000001"})
    parse_command(ok | {"complaint": "c5617569-08ed-5257-903b-c464c864ff57"})
    assert "complaint" in rejected(ok | {"complaint": "LAP-26-1"})


def test_every_command_name_is_dispatchable() -> None:
    from lapor_es.application import LaporApp

    for name in COMMAND_NAMES:
        assert callable(getattr(LaporApp, name)), name


@given(st.text(max_size=40))
def test_arbitrary_text_never_crashes_the_parser(text: str) -> None:
    with contextlib.suppress(ValidationError):
        parse_command(text)
