"""Webhook signatures (Standard Webhooks), the signing secrets at rest, endpoint URLs, and the
structured-mode CloudEvent a feed record becomes."""

from __future__ import annotations

import base64
import json

import pytest
from cloudevents.v1.http import from_http

from lapor_es.feeds.router import feed_headers, feed_value
from lapor_es.feeds.webhook_signing import (
    SecretBox,
    new_key,
    new_secret,
    secret_key,
    signature,
    signed_headers,
    verify,
)
from lapor_es.feeds.webhooks import check_url, cloudevent

# The test vector published with the Standard Webhooks reference implementations: a receiver
# library verifies what we send only if we reproduce it exactly.
VECTOR_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
VECTOR_ID = "msg_p5jXN8AQM9LWM0D4loKWxJek"
VECTOR_TIMESTAMP = 1614265330
VECTOR_BODY = b'{"test": 2432232314}'
VECTOR_SIGNATURE = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_published_test_vector_reproduces_exactly() -> None:
    assert signature(VECTOR_SECRET, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE
    # Receivers' libraries accept the secret with or without its prefix; so do we.
    bare = VECTOR_SECRET.removeprefix("whsec_")
    assert signature(bare, VECTOR_ID, VECTOR_TIMESTAMP, VECTOR_BODY) == VECTOR_SIGNATURE


def test_a_receiver_accepts_the_signed_request_and_nothing_altered() -> None:
    secret = new_secret()
    body = b'{"id":"c1:3"}'
    headers = signed_headers(secret, "c1:3", 1_700_000_000, body)
    assert verify(secret, headers, body, now=1_700_000_010)
    assert not verify(new_secret(), headers, body, now=1_700_000_010)  # another endpoint's
    assert not verify(secret, headers, body + b" ", now=1_700_000_010)  # body changed
    assert not verify(secret, headers | {"webhook-id": "c1:4"}, body, now=1_700_000_010)
    assert not verify(secret, headers, body, now=1_700_000_000 + 301)  # replayed late
    assert not verify(secret, {}, body, now=1_700_000_000)


def test_any_of_several_signatures_may_match() -> None:
    """During a secret rotation a sender signs with both; receivers try each."""
    headers = {
        "webhook-id": VECTOR_ID,
        "webhook-timestamp": str(VECTOR_TIMESTAMP),
        "webhook-signature": f"v1,bm9wZQ== {VECTOR_SIGNATURE}",
    }
    assert verify(VECTOR_SECRET, headers, VECTOR_BODY, now=VECTOR_TIMESTAMP)


def test_secrets_are_32_random_bytes_in_the_whsec_format() -> None:
    one, two = new_secret(), new_secret()
    assert one.startswith("whsec_") and one != two
    assert len(secret_key(one)) == 32
    with pytest.raises(ValueError):
        secret_key("whsec_not base64!")


def test_a_sealed_secret_opens_only_with_its_key_and_on_its_own_row() -> None:
    box = SecretBox.from_setting(new_key())
    secret = new_secret()
    sealed = box.seal(secret, "wh_aaa")
    assert secret not in sealed and secret.removeprefix("whsec_") not in sealed
    assert box.open(sealed, "wh_aaa") == secret
    assert box.seal(secret, "wh_aaa") != sealed  # a fresh nonce every time
    with pytest.raises(ValueError, match="does not open"):
        box.open(sealed, "wh_bbb")  # copied onto another subscription's row
    with pytest.raises(ValueError, match="does not open"):
        SecretBox.from_setting(new_key()).open(sealed, "wh_aaa")


def test_the_key_setting_must_be_32_bytes_of_base64() -> None:
    with pytest.raises(ValueError, match="new-key"):
        SecretBox.from_setting("not base64!")
    with pytest.raises(ValueError, match="32 bytes"):
        SecretBox.from_setting(base64.b64encode(b"short").decode())


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://agency.example.go.id/hook", "https"),
        ("ftp://agency.example.go.id/hook", "https://"),
        ("https://user:pw@agency.example.go.id/hook", "user name"),
        ("https://127.0.0.1/hook", "loopback"),
        ("https://10.1.2.3/hook", "private"),
        ("https://169.254.169.254/latest/meta-data", "private"),
        ("https://[::1]/hook", "loopback"),
        ("https://localhost/hook", "this server"),
        ("https://agency.example.go.id/hook#x", "fragment"),
        ("/relative", "https://"),
    ],
)
def test_endpoint_urls_are_https_to_a_public_host(url: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        check_url(url)


def test_public_https_urls_pass_and_insecure_ones_only_when_allowed() -> None:
    assert check_url("https://api.kemenkes.go.id/lapor/hook?x=1")
    assert check_url("https://8.8.8.8/hook") == "https://8.8.8.8/hook"
    assert check_url("http://127.0.0.1:8080/hook", allow_insecure=True)
    with pytest.raises(ValueError):
        check_url("http://user@127.0.0.1/hook", allow_insecure=True)


def assigned_record() -> tuple[list[tuple[str, bytes]], bytes]:
    from datetime import UTC, datetime

    from lapor_es.contract.feeds import ComplaintLeft

    payload = ComplaintLeft(
        type="ComplaintLeft",
        complaint_id="0b6f7c4e-2f5b-4a43-9f7e-3d1c2b1a0f00",
        tracking_id="LAP-2026-0000123",
        agency="KEMENKES",
        version=7,
        at=datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
        event_hash="a" * 64,
        reason="declined",
    )
    return feed_headers(payload), feed_value(payload)


def test_a_feed_record_becomes_a_structured_cloudevent_the_sdk_reads() -> None:
    headers, value = assigned_record()
    ce_id, body = cloudevent(headers, value)
    event = from_http({"content-type": "application/cloudevents+json"}, body)
    attributes = {name: event[name] for name in ("id", "source", "type", "subject")}
    assert attributes == {
        "id": ce_id,
        "source": "/lapor-es/agency-router",
        "type": "id.go.lapor.agency.complaint_left.v1",
        "subject": "LAP-2026-0000123",
    }
    assert event["agency"] == "KEMENKES" and event["complaintversion"] == "7"
    assert event.data == json.loads(value)  # exactly what the Kafka record carries
    assert ce_id.startswith("0b6f7c4e-2f5b-4a43-9f7e-3d1c2b1a0f00")


def test_a_value_that_is_not_json_travels_as_data_base64() -> None:
    headers, _ = assigned_record()
    _, body = cloudevent(headers, b"\xff\x00")
    event = json.loads(body)
    assert base64.b64decode(event["data_base64"]) == b"\xff\x00" and "data" not in event
