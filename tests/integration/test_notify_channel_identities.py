"""The notifier and the identities real channels have (issue 10 item 8), against the same
real local SMTP server and HTTP receiver as tests/integration/test_notify.py: an SMS
reporter (phone only) gets the SMS and no mail; a social-media reporter (an account only)
can be reached by no channel, which is recorded as such, not failed or retried."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from lapor_es.application import LaporApp
from lapor_es.commands import parse_command
from lapor_es.config import Settings
from lapor_es.notify.service import NO_CHANNEL
from tests.conftest import NOW
from tests.integration.test_notify import Clock, SmtpReceiver, WebhookReceiver, make_notifier
from tests.support.builders import DESK, agency_actor, small_directory

pytestmark = pytest.mark.integration
SMS_PHONE = "081311112222"


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    receiver.up()
    yield receiver
    receiver.down()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


def verified_and_answered(lapor: LaporApp, channel: str, reporter: dict[str, Any]) -> str:
    """Filed through `channel`, verified to KEMENKES, answered: two notifying events."""
    out = lapor.handle(
        parse_command(
            {
                "command": "file",
                "actor": {"id": f"{channel}-gateway", "role": "reporter"},
                "channel": channel,
                "title": "Jalan berlubang",
                "description": "Jalan di depan pasar berlubang besar sejak dua minggu.",
                "reporter": reporter,
            }
        )
    )
    tid = str(out.tracking_id)
    for command in (
        {
            "command": "verify",
            "actor": DESK,
            "complaint": tid,
            "title": "Jalan berlubang",
            "category": "Jalan",
            "kind": "complaint",
            "visibility": "public",
            "to_agency": "KEMENKES",
        },
        {
            "command": "respond",
            "actor": agency_actor("KEMENKES"),
            "complaint": tid,
            "kind": "final",
            "text": "Lubang sudah ditambal oleh petugas kami pada hari Senin.",
        },
    ):
        lapor.handle(parse_command(command))
    return tid


def test_sms_to_the_phone_and_no_channel_for_an_account_only(
    lapor: LaporApp, settings: Settings, smtp: SmtpReceiver, webhook: WebhookReceiver
) -> None:
    small_directory(lapor)
    sms = verified_and_answered(lapor, "sms-1708", {"phone": SMS_PHONE})
    social = verified_and_answered(
        lapor, "social", {"social_handle": {"platform": "twitter", "handle": "@Rudi_H"}}
    )
    service, engine = make_notifier(lapor, settings, smtp, webhook, Clock(NOW + timedelta(1)))
    try:
        report = service.run()
        again = service.run()
    finally:
        engine.dispose()

    # The SMS reporter: both messages by SMS to the one number; no e-mail address to use.
    assert sorted(b["to"] for b in webhook.bodies) == ["+6281311112222"] * 2
    assert {b["tracking_id"] for b in webhook.bodies} == {sms}
    assert smtp.mails == []
    # Nothing failed, nothing is retried: 2 sent, 6 skipped (the SMS reporter's two mails,
    # the account's two events on both channels), and a second pass does nothing.
    assert (report.sent, report.skipped, report.retrying, report.parked) == (2, 6, 0, 0)
    assert (again.sent, again.skipped) == (0, 0)
    reasons = {(r["tracking_id"], r["channel"]): r["last_error"] for r in service.outbox.rows()}
    assert reasons[(social, "email")] == reasons[(social, "sms")] == NO_CHANNEL
    assert reasons[(sms, "email")] == "no email address"
