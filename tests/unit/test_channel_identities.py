"""The identity each channel really has (issue 10 item 8): an SMS to 1708 carries only the
sender's phone, a social-media report only the account. Validation per channel, the
pseudonym derived from what there is (one person however the number or handle is
written), the views, erasure by phone or account, and an `exec` line for an SMS filing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from lapor_es.aggregates import NotAuthorized
from lapor_es.application import LaporApp
from lapor_es.bootstrap import in_memory_app
from lapor_es.cli import execute_line
from lapor_es.commands import parse_command
from lapor_es.config import Settings
from lapor_es.privacy import ReporterIdentity, SocialHandle, reporter_ref_for
from lapor_es.views import Viewer, complaint_view
from tests.conftest import NOW
from tests.support.builders import DESK, agency_actor, small_directory

PEPPER = b"test-pepper"
SMS_PHONE = "081311112222"


def filing(channel: str, reporter: dict[str, Any]) -> dict[str, Any]:
    return {
        "command": "file",
        "actor": {"id": f"{channel}-gateway", "role": "reporter"},
        "channel": channel,
        "title": "Jalan berlubang",
        "description": "Jalan di depan pasar berlubang besar sejak dua minggu.",
        "reporter": reporter,
    }


def refusal(channel: str, reporter: dict[str, Any]) -> dict[str, Any]:
    with pytest.raises(ValidationError) as caught:
        parse_command(filing(channel, reporter))
    [error] = caught.value.errors()
    return dict(error)


# ------------------------------------------------------------------ validation per channel
@pytest.mark.parametrize(
    ("channel", "reporter"),
    [
        ("sms-1708", {"phone": SMS_PHONE}),
        ("sms-1708", {"phone": "+6281311112222", "name": "Rudi"}),
        ("social", {"social_handle": {"platform": "twitter", "handle": "@Rudi_H"}}),
        ("social", {"social_handle": {"platform": "instagram", "handle": "rudi.hartono"}}),
        ("social", {"phone": SMS_PHONE}),
        ("api", {"phone": SMS_PHONE}),
        ("web", {"name": "Rudi Hartono", "email": "rudi@example.id"}),
        # Not public: nothing shows a name, so none is needed (Open311's nameless requests).
        ("web", {"email": "rudi@example.id", "visibility": "anonymous"}),
    ],
)
def test_each_channel_files_with_what_it_has(channel: str, reporter: dict[str, Any]) -> None:
    reporter = dict(reporter)
    visibility = reporter.pop("visibility", "public")
    parse_command(filing(channel, reporter) | {"visibility": visibility})


@pytest.mark.parametrize(
    ("channel", "reporter", "needed"),
    [
        ("sms-1708", {"email": "rudi@example.id"}, "reporter.phone"),
        ("web", {"phone": SMS_PHONE}, "reporter.name"),
        ("android", {"social_handle": {"platform": "tiktok", "handle": "rudi"}}, "reporter.name"),
        ("social", {"nik": "3273011212900001"}, "reporter.social_handle"),
    ],
)
def test_a_channel_without_its_identity_is_refused_naming_field_and_rule(
    channel: str, reporter: dict[str, Any], needed: str
) -> None:
    error = refusal(channel, reporter)
    assert error["type"] == "channel_identity"
    assert error["loc"] == ("file", "reporter")
    assert str(error["msg"]).startswith(f"{needed} is required: ")


@pytest.mark.parametrize(
    "handle",
    [
        {"platform": "twitter", "handle": "@budi santoso"},  # a space
        {"platform": "twitter", "handle": "@a_handle_far_too_long"},  # twitter: 15 at most
        {"platform": "twitter", "handle": "@budi.s"},  # no dots on twitter
        {"platform": "instagram", "handle": "@budi\u0660"},  # an Arabic-Indic digit
        {"platform": "facebook", "handle": "budi"},  # facebook: 5 at least
        {"platform": "myspace", "handle": "@budi"},  # no such platform
        {"platform": "twitter"},  # no handle
    ],
)
def test_a_social_handle_is_validated_strictly(handle: dict[str, str]) -> None:
    with pytest.raises(ValidationError) as caught:
        parse_command(filing("social", {"social_handle": handle}))
    assert all(e["loc"][:3] == ("file", "reporter", "social_handle") for e in caught.value.errors())


def test_a_reporter_still_needs_some_identity() -> None:
    error = refusal("api", {"name": "Rudi Hartono"})
    assert "nik, phone, email or social_handle" in str(error["msg"])


# ------------------------------------------------------------------ the pseudonym
def ref(**identity: Any) -> str:
    return reporter_ref_for(ReporterIdentity(**identity), PEPPER)


def test_one_phone_however_written_is_one_reporter() -> None:
    forms = {ref(phone=p) for p in ("081311112222", "6281311112222", "+6281311112222")}
    assert len(forms) == 1
    assert ref(phone="081311112223") not in forms


def test_one_account_however_written_is_one_reporter() -> None:
    def account(platform: str, handle: str) -> str:
        return ref(social_handle=SocialHandle(platform=platform, handle=handle))

    same = {account("twitter", h) for h in ("@Rudi_H", "rudi_h", "@RUDI_H")}
    assert len(same) == 1
    assert account("instagram", "rudi_h") not in same  # another platform, another account


# ------------------------------------------------------------------ through the application
@pytest.fixture
def lapor() -> Iterator[LaporApp]:
    app = in_memory_app(Settings(reporter_pepper="test-pepper"), clock=lambda: NOW)
    small_directory(app)
    yield app
    app.close()


def file_and_forward(lapor: LaporApp, channel: str, reporter: dict[str, Any]) -> tuple[str, str]:
    out = lapor.handle(parse_command(filing(channel, reporter)))
    tid = str(out.tracking_id)
    lapor.handle(
        parse_command(
            {
                "command": "verify",
                "actor": DESK,
                "complaint": tid,
                "title": "Jalan berlubang",
                "category": "Jalan",
                "kind": "complaint",
                "visibility": "public",
                "to_agency": "KEMENKES",
            }
        )
    )
    return tid, str(out.reporter_ref)


def test_an_sms_reporter_files_again_from_the_same_number_as_the_same_reporter(
    lapor: LaporApp,
) -> None:
    _, first = file_and_forward(lapor, "sms-1708", {"phone": "081311112222"})
    _, again = file_and_forward(lapor, "sms-1708", {"phone": "+6281311112222"})
    assert first == again


def test_the_agency_sees_the_number_or_account_the_public_no_name(lapor: LaporApp) -> None:
    sms, _ = file_and_forward(lapor, "sms-1708", {"phone": SMS_PHONE})
    social, _ = file_and_forward(
        lapor, "social", {"social_handle": {"platform": "twitter", "handle": "@Rudi_H"}}
    )
    agency = Viewer.parse("agency:KEMENKES")
    sms_view = complaint_view(lapor, lapor.complaint(sms), agency)["reporter"]
    assert (sms_view["phone"], sms_view["shown_as"]) == (SMS_PHONE, SMS_PHONE)
    assert "name" not in sms_view
    social_view = complaint_view(lapor, lapor.complaint(social), agency)["reporter"]
    assert social_view["shown_as"] == "@Rudi_H (twitter)"
    public = Viewer.parse("public")
    for tid in (sms, social):
        assert complaint_view(lapor, lapor.complaint(tid), public)["reporter"] == {"name": None}


def erase(lapor: LaporApp, actor: dict[str, Any], **who: Any) -> Any:
    command = {"command": "erase_reporter", "actor": actor, "reason": "Permintaan pelapor", **who}
    return lapor.handle(parse_command(command))


def test_erasure_by_phone_or_by_account(lapor: LaporApp) -> None:
    sms, sms_ref = file_and_forward(lapor, "sms-1708", {"phone": SMS_PHONE})
    social, social_ref = file_and_forward(
        lapor, "social", {"social_handle": {"platform": "instagram", "handle": "rudi.h"}}
    )
    by_phone = erase(lapor, DESK, phone="+6281311112222")  # another form of the same number
    assert (by_phone.reporter_ref, by_phone.affected) == (sms_ref, 1)
    by_account = erase(lapor, DESK, social_handle={"platform": "instagram", "handle": "@Rudi.H"})
    assert (by_account.reporter_ref, by_account.affected) == (social_ref, 1)
    assert lapor.complaint(sms).identity_erased and lapor.complaint(social).identity_erased


def test_only_the_desk_may_erase_by_phone_and_learns_nothing_else(lapor: LaporApp) -> None:
    file_and_forward(lapor, "sms-1708", {"phone": SMS_PHONE})
    for phone in (SMS_PHONE, "081399999999"):  # one that filed, one that never did
        with pytest.raises(NotAuthorized):
            erase(lapor, agency_actor("KEMENKES"), phone=phone)


def test_an_exec_line_files_an_sms_with_only_a_phone(lapor: LaporApp) -> None:
    line = json.dumps(filing("sms-1708", {"phone": SMS_PHONE}) | {"request_id": "sms-1"})
    result = execute_line(lapor, 1, line)
    assert result["ok"] is True, result
    assert result["reporter_ref"] == ref(phone=SMS_PHONE)  # the pseudonym of the number
    refused = execute_line(lapor, 2, json.dumps(filing("sms-1708", {"email": "a@example.id"})))
    assert refused["ok"] is False
    [detail] = refused["error"]["details"]
    assert (detail["field"], detail["rule"]) == ("reporter", "channel_identity")
    assert "reporter.phone is required" in detail["message"]
