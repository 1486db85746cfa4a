"""Webhook signatures (the Standard Webhooks scheme) and the signing secrets at rest.

Every delivery carries three headers (https://www.standardwebhooks.com/):

    webhook-id          the record's CloudEvents id: the same on every attempt (dedupe on it)
    webhook-timestamp   seconds since the epoch when this attempt was signed
    webhook-signature   "v1," + base64(HMAC-SHA256(key, "<id>.<timestamp>.<body>"))

The secret is `whsec_` + base64 of 32 random bytes; the HMAC key is those bytes. It is shown
to the agency once, when the endpoint is registered. The sender must have it to sign every
delivery, so it cannot be stored as a digest the way tokens are: it is stored encrypted
with AES-256-GCM under LAPOR_WEBHOOKS_SECRET_KEY (which never enters the database), with
the subscription's id as associated data, so a ciphertext copied to another row does not
open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from collections.abc import Mapping

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SECRET_PREFIX = "whsec_"
SIGNATURE_VERSION = "v1"
DEFAULT_TOLERANCE_S = 300  # how old a timestamp a receiver accepts (replayed requests)
_SECRET_BYTES = 32
_KEY_BYTES = 32  # AES-256
_NONCE_BYTES = 12
_CIPHERTEXT_VERSION = "v1:"


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(_SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_...` secret (the prefix is optional, as receivers read it)."""
    encoded = secret.removeprefix(SECRET_PREFIX)
    try:
        return base64.b64decode(encoded, validate=True)
    except binascii.Error as exc:
        raise ValueError("a webhook secret is whsec_ followed by base64") from exc


def signature(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` value for one attempt."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return f"{SIGNATURE_VERSION},{base64.b64encode(digest).decode()}"


def signed_headers(secret: str, msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(secret, msg_id, timestamp, body),
    }


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """What a receiver does: True if one of the space-separated signatures matches and the
    timestamp is within `tolerance_s` of `now` (seconds since the epoch). `headers` must be
    looked up case-insensitively (e.g. an http.client message or a lower-cased dict)."""
    msg_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    given = headers.get("webhook-signature")
    if not msg_id or not stamp or not given or not stamp.isdigit():
        return False
    if abs(now - int(stamp)) > tolerance_s:
        return False
    expected = signature(secret, msg_id, int(stamp), body)
    return any(hmac.compare_digest(expected, candidate) for candidate in given.split())


# ----------------------------------------------------------------------- at rest
def new_key() -> str:
    """A value for LAPOR_WEBHOOKS_SECRET_KEY (`lapor-es webhooks new-key`)."""
    return base64.b64encode(secrets.token_bytes(_KEY_BYTES)).decode()


class SecretBox:
    """Encrypts signing secrets for the database and opens them for the sender."""

    def __init__(self, key: bytes) -> None:
        if len(key) != _KEY_BYTES:
            raise ValueError(f"the webhook secret key must be {_KEY_BYTES} bytes")
        self._aead = AESGCM(key)

    @classmethod
    def from_setting(cls, value: str) -> SecretBox:
        """From LAPOR_WEBHOOKS_SECRET_KEY: base64 of 32 random bytes."""
        try:
            key = base64.b64decode(value.strip(), validate=True)
        except binascii.Error:
            raise ValueError(
                "LAPOR_WEBHOOKS_SECRET_KEY must be base64 of 32 bytes "
                "(make one with `lapor-es webhooks new-key`)"
            ) from None
        return cls(key)

    def seal(self, secret: str, subscription_id: str) -> str:
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), subscription_id.encode())
        return _CIPHERTEXT_VERSION + base64.b64encode(nonce + sealed).decode()

    def open(self, ciphertext: str, subscription_id: str) -> str:
        """Raises ValueError when the key is not the one that sealed it (or the row moved)."""
        if not ciphertext.startswith(_CIPHERTEXT_VERSION):
            raise ValueError("unknown webhook secret ciphertext format")
        raw = base64.b64decode(ciphertext.removeprefix(_CIPHERTEXT_VERSION))
        try:
            plain = self._aead.decrypt(
                raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], subscription_id.encode()
            )
        except InvalidTag:
            raise ValueError(
                f"the signing secret of {subscription_id} does not open with "
                "LAPOR_WEBHOOKS_SECRET_KEY (another key sealed it)"
            ) from None
        return plain.decode()
