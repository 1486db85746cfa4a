"""How a message reaches the reporter: e-mail over SMTP, SMS through a gateway's webhook.

A channel is given the decrypted identity only for the moment of the send, picks the
address it needs from it (None: the reporter gave none), and raises on failure. Errors are
scrubbed of the address before anyone stores or logs them (`scrub`).
"""

from __future__ import annotations

import json
import smtplib
import urllib.error
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Protocol

from pydantic import SecretStr

from lapor_es.notify.messages import Message
from lapor_es.notify.outbox import Notification
from lapor_es.privacy import ReporterIdentity, normalise_phone

EMAIL = "email"
SMS = "sms"


class SendError(Exception):
    """The receiver refused or could not be reached; the send is retried."""


class Channel(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def repeat_safe(self) -> bool:
        """True when the receiver recognises a repeated send (by an idempotency key), so a
        send whose outcome is unknown may simply be sent again."""
        ...

    def address(self, identity: ReporterIdentity) -> str | None: ...
    def send(self, notification: Notification, message: Message, address: str) -> None: ...


def scrub(text: str, *secrets: str | None) -> str:
    """`text` without any of `secrets` (an address echoed back in an error message)."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "<recipient>")
    return text[:500]


@dataclass(frozen=True)
class SmtpChannel:
    """E-mail through an SMTP relay (smtplib). Message-ID is stable per event and channel,
    so a mail system that de-duplicates by it recognises a repeat; SMTP itself does not, so
    this channel is not `repeat_safe`."""

    host: str
    port: int
    sender: str
    username: str | None = None
    password: SecretStr | None = None
    starttls: bool = False
    timeout_s: float = 30.0
    name: str = EMAIL
    repeat_safe: bool = False

    def address(self, identity: ReporterIdentity) -> str | None:
        return identity.email

    def send(self, notification: Notification, message: Message, address: str) -> None:
        mail = EmailMessage()
        mail["From"] = self.sender
        mail["To"] = address
        mail["Subject"] = message.subject
        mail["Date"] = formatdate(usegmt=True)
        mail["Message-ID"] = f"<{notification.idempotency_key.replace(':', '.')}@lapor-es>"
        mail["X-Lapor-Event"] = notification.event_id
        mail.set_content(message.body)
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout_s) as smtp:
                if self.starttls:
                    smtp.starttls()
                if self.username and self.password:
                    smtp.login(self.username, self.password.get_secret_value())
                smtp.send_message(mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"{type(exc).__name__}: {scrub(str(exc), address)}") from None


@dataclass(frozen=True)
class WebhookSmsChannel:
    """SMS through a gateway's webhook: POST JSON {id, to, text, tracking_id, event} with an
    `Idempotency-Key` header (the same on every attempt); any 2xx is accepted. The gateway
    must ignore a repeated key (docs/notifications.md), which makes the channel
    `repeat_safe`."""

    url: str
    token: SecretStr | None = None
    timeout_s: float = 30.0
    name: str = SMS
    repeat_safe: bool = True

    def address(self, identity: ReporterIdentity) -> str | None:
        return normalise_phone(identity.phone) if identity.phone else None

    def send(self, notification: Notification, message: Message, address: str) -> None:
        body = {
            "id": notification.idempotency_key,
            "event_id": notification.event_id,
            "to": address,
            "text": message.body,
            "tracking_id": notification.tracking_id,
            "event": notification.event_type,
        }
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": notification.idempotency_key,
        }
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token.get_secret_value()}"
        request = urllib.request.Request(
            self.url, data=json.dumps(body).encode(), headers=headers, method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                response.read()
        except urllib.error.HTTPError as exc:
            raise SendError(f"HTTP {exc.code} from the SMS gateway") from None
        except (urllib.error.URLError, OSError) as exc:
            raise SendError(f"{type(exc).__name__}: {scrub(str(exc), address)}") from None
