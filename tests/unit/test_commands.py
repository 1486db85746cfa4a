"""Command validation at the edge: every rule names its field. No I/O."""

from __future__ import annotations

import contextlib
import json
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


# ---------------------------------------------------- strict values (issue 10, item 13)
def rejected_both_ways(command: dict[str, Any]) -> set[str]:
    """The fields refused when the command arrives as a JSON line (exec) and as a decoded
    JSON object (the HTTP door): the two must agree."""
    with pytest.raises(ValidationError) as as_json:
        parse_command(json.dumps(command))
    from_dict = rejected(command)
    assert fields_of(as_json.value) == from_dict
    return from_dict


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


@pytest.mark.parametrize("digits", [ARABIC_INDIC, FULLWIDTH], ids=["arabic-indic", "fullwidth"])
@pytest.mark.parametrize(
    ("reporter", "field"),
    [
        ({"name": "Dewi", "nik": "3174019876543210"}, "reporter.nik"),
        ({"name": "Dewi", "phone": "081298765432"}, "reporter.phone"),
        ({"name": "Dewi", "phone": "+6281298765432"}, "reporter.phone"),
    ],
)
def test_nik_and_phone_take_only_ascii_digits(
    digits: dict[int, str], reporter: dict[str, str], field: str
) -> None:
    parse_command(file_cmd(reporter=reporter))  # the ASCII spelling is valid
    # The prefix stays ASCII ("08", "+628"): only the digits a \d would let through change.
    other = {k: v[:-8] + v[-8:].translate(digits) for k, v in reporter.items() if k != "name"}
    assert field in rejected_both_ways(file_cmd(reporter={"name": "Dewi"} | other))


def test_a_complaint_reference_takes_only_ascii_digits() -> None:
    start = {"command": "start", "actor": DESK}
    tracking_id = "LAP-2026-0000001".translate(ARABIC_INDIC)
    assert "complaint" in rejected_both_ways(start | {"complaint": tracking_id})


@pytest.mark.parametrize("value", [True, False, 1.0, 2.5, "1"], ids=repr)
def test_expected_version_is_a_strict_integer(value: Any) -> None:
    start = {"command": "start", "actor": DESK, "complaint": "LAP-2026-0000001"}
    parse_command(json.dumps(start | {"expected_version": 1}))
    parse_command(start | {"expected_version": 1})
    assert "expected_version" in rejected_both_ways(start | {"expected_version": value})


WARN = {
    "command": "warn_sla",
    "actor": {"id": "timer", "role": "system"},
    "complaint": "LAP-2026-0000001",
    "clock": "follow_up",
    "due_at": "2026-03-10T17:00:00+07:00",
}


@pytest.mark.parametrize(
    "value",
    [1772413200, 1772413200.5, "1772413200", "1772413200.5", True, "2026-03-02", "2026"],
    ids=repr,
)
@pytest.mark.parametrize("field", ["at", "due_at"])
def test_times_are_iso_8601_text_never_epoch_numbers(field: str, value: Any) -> None:
    assert field in rejected_both_ways(WARN | {"at": "2026-03-02T09:00:00+07:00", field: value})


@pytest.mark.parametrize(
    "value", ["2026-03-02T09:00:00+07:00", "2026-03-02T02:00:00Z", "2026-03-02 09:00:00.5+07:00"]
)
def test_iso_8601_times_with_an_offset_are_accepted(value: str) -> None:
    for command in (WARN | {"at": value}, WARN | {"due_at": value}):
        parse_command(json.dumps(command))
        parse_command(command)


def test_enums_still_come_as_json_strings() -> None:
    cmd = parse_command(json.dumps(file_cmd(kind="aspiration", visibility="anonymous")))
    assert isinstance(cmd, FileComplaint)
    assert cmd.kind == "aspiration" and cmd.visibility == "anonymous" and cmd.channel == "web"


# ------------------------------------------------------------- NUL characters (U+0000)
@pytest.mark.parametrize(
    ("override", "named"),
    [
        ({"description": "Jalan berlubang\x00 di depan SD"}, "'description'"),
        ({"reporter": {"name": "Bu\x00di", "phone": "081234567890"}}, "'reporter.name'"),
        ({"request_id": "req\x00-1"}, "'request_id'"),
        ({"bad\x00key": "x"}, "a key"),
    ],
)
def test_a_nul_character_is_refused_wherever_it_stands(
    override: dict[str, Any], named: str
) -> None:
    """PostgreSQL text cannot hold U+0000: stored in an event, it would stop the event at
    every projection. `exec` and the door both refuse it, naming where it stood."""
    command = file_cmd() | override
    for arriving in (json.dumps(command), command):  # a JSON line (exec), a decoded body
        with pytest.raises(ValidationError) as refused:
            parse_command(arriving)
        (error,) = refused.value.errors()
        assert error["type"] == "nul_character"
        assert error["msg"].startswith(f"{named} holds a NUL character")
