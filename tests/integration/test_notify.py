"""The notifier against a real local SMTP server (aiosmtpd) and a real local HTTP receiver.

Both receivers count the messages they accept per event id, so a duplicate send fails the
test; they can refuse (down, 503) and block (to kill the notifier mid-send).
"""

from __future__ import annotations

import json
import socket
import threading
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from structlog.testing import capture_logs

from lapor_es.application import LaporApp
from lapor_es.bootstrap import notifier, projection_engine
from lapor_es.commands import parse_command
from lapor_es.config import Settings
from lapor_es.notify.channels import SmtpChannel, WebhookSmsChannel
from lapor_es.notify.messages import NOTIFYING
from lapor_es.notify.service import Notifier
from tests.conftest import NOW
from tests.support.builders import DESK, NIK, PHONE, agency_actor, file_cmd, small_directory

pytestmark = pytest.mark.integration
EMAIL = "dewi.lestari@example.id"
NAME = "Dewi Lestari"
REPORTER = {"name": NAME, "phone": PHONE, "nik": NIK, "email": EMAIL}
DEADLINE_S = 120.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------- receivers
class SmtpReceiver:
    """aiosmtpd on a fixed port; `up()`/`down()`; counts accepted mails per X-Lapor-Event."""

    def __init__(self) -> None:
        self.port = free_port()
        self.accepted: Counter[str] = Counter()
        self.mails: list[Any] = []
        self.block_on: int | None = None  # block the n-th message (1-based) until released
        self.blocked = threading.Event()
        self.release = threading.Event()
        self._controller: Controller | None = None
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        mail = message_from_bytes(envelope.content, policy=default_policy)
        with self._lock:
            self.mails.append(mail)
            number = len(self.mails)
        if number == self.block_on:
            self.blocked.set()
            while not self.release.wait(0.05):  # the asyncio loop is ours alone in this test
                pass
            return "451 aborted"
        self.accepted[str(mail["X-Lapor-Event"])] += 1
        return "250 OK"

    def up(self) -> None:
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)
        self._controller.start()

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None


class WebhookReceiver:
    """An SMS gateway: counts accepted messages per event id, ignores a repeated
    Idempotency-Key (as the contract asks of gateways) but records every attempt."""

    def __init__(self) -> None:
        self.accepted: Counter[str] = Counter()
        self.attempts: Counter[str] = Counter()
        self.bodies: list[dict[str, Any]] = []
        self.keys: set[str] = set()
        self.fail_next = 0
        self.block_on: int | None = None
        self.blocked = threading.Event()
        self.release = threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                key = self.headers["Idempotency-Key"]
                receiver.attempts[body["event_id"]] += 1
                receiver.bodies.append(body)
                if receiver.fail_next > 0:
                    receiver.fail_next -= 1
                    self.send_response(503)
                    self.end_headers()
                    return
                if len(receiver.bodies) == receiver.block_on:
                    receiver.blocked.set()
                    receiver.release.wait(DEADLINE_S)
                if key not in receiver.keys:
                    receiver.keys.add(key)
                    receiver.accepted[body["event_id"]] += 1
                self.send_response(202)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver()
    yield receiver
    receiver.release.set()
    receiver.down()


@pytest.fixture
def webhook() -> Iterator[WebhookReceiver]:
    receiver = WebhookReceiver()
    yield receiver
    receiver.close()


# ---------------------------------------------------------------------- the story
def story(lapor: LaporApp, reporter: dict[str, str] | None = None) -> tuple[str, str]:
    """Filed, verified, postponed? no: verified, forwarded, interim + final response,
    resolved by the reporter. Returns (tracking id, reporter ref)."""
    out = lapor.handle(parse_command(file_cmd(reporter=reporter or REPORTER)))
    tid = str(out.tracking_id)
    for command in (
        {
            "command": "verify",
            "actor": DESK,
            "complaint": tid,
            "title": "Air PDAM",
            "category": "Air Bersih",
            "kind": "complaint",
            "visibility": "public",
            "to_agency": "KEMENKES",
        },
        {
            "command": "respond",
            "actor": agency_actor("KEMENKES"),
            "complaint": tid,
            "kind": "final",
            "text": "Pipa sudah diperbaiki oleh petugas kami pada hari Senin.",
        },
    ):
        lapor.handle(parse_command(command))
    return tid, str(out.reporter_ref)


def notifying_events(lapor: LaporApp, tid: str) -> set[str]:
    complaint = lapor.complaint(tid)
    return {
        f"{complaint.id}:{e.originator_version}"
        for e in lapor.history(complaint.id)
        if type(e).__name__ in NOTIFYING
    }


class Clock:
    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now


def make_notifier(
    lapor: LaporApp, settings: Settings, smtp: SmtpReceiver, webhook: WebhookReceiver, clock: Clock
) -> tuple[Notifier, Engine]:
    engine = projection_engine(settings)
    channels = [
        SmtpChannel(host="127.0.0.1", port=smtp.port, sender="lapor@example.id", timeout_s=10),
        WebhookSmsChannel(url=webhook.url, timeout_s=10),
    ]
    service = notifier(
        settings.model_copy(update={"notify_max_attempts": 3, "notify_backoff_base_s": 60}),
        lapor,
        engine,
        clock=clock,
        channels=channels,  # type: ignore[arg-type]
    )
    return service, engine


def test_each_event_once_per_channel_through_failures(
    lapor: LaporApp, settings: Settings, smtp: SmtpReceiver, webhook: WebhookReceiver
) -> None:
    small_directory(lapor)
    tid, _ = story(lapor)
    clock = Clock(NOW + timedelta(minutes=5))
    service, engine = make_notifier(lapor, settings, smtp, webhook, clock)
    try:
        webhook.fail_next = 1  # the gateway fails once, the SMTP server is down
        with capture_logs() as logs:
            first = service.run()
        assert first.sent == 1 and first.retrying == 3, first  # Verified+Responded x 2, one sms ok
        assert sum(smtp.accepted.values()) == 0

        clock.now += timedelta(seconds=30)  # backoff not over: nothing is attempted
        assert service.run().as_dict() == {k: 0 for k in first.as_dict()}

        smtp.up()  # both receivers are fine now
        clock.now += timedelta(seconds=31)
        with capture_logs() as more:
            second = service.run()
        assert second.sent == 3, second
        logs += more
        assert service.run().sent == 0  # a further pass sends nothing again
    finally:
        engine.dispose()

    events = notifying_events(lapor, tid)
    assert len(events) == 2  # Verified, Responded
    assert smtp.accepted == Counter({e: 1 for e in events})
    assert webhook.accepted == Counter({e: 1 for e in events})
    assert service.outbox.counts() == {"sent": 4}
    # Indonesian, addressed to the reporter, with the answer and the agency's name.
    subjects = sorted(str(m["Subject"]) for m in smtp.mails)
    assert subjects == [f"Laporan {tid} telah diverifikasi", f"Tanggapan akhir atas laporan {tid}"]
    assert all(str(m["To"]) == EMAIL for m in smtp.mails)
    response = next(b for b in webhook.bodies if b["event"] == "Responded")
    assert response["to"] == "+6281298765432"
    assert "Pipa sudah diperbaiki" in response["text"] and "WIB" in response["text"]
    # Nothing personal in any log line.
    dumped = json.dumps(logs, default=str)
    for secret in (EMAIL, PHONE, "6281298765432", NAME, NIK):
        assert secret not in dumped
    assert any(entry["event"] == "notify.send_failed" for entry in logs)


def test_failures_park_after_the_attempts_allowed_and_retry_replays_them(
    lapor: LaporApp, settings: Settings, smtp: SmtpReceiver, webhook: WebhookReceiver
) -> None:
    small_directory(lapor)
    story(lapor)
    clock = Clock(NOW + timedelta(minutes=5))
    service, engine = make_notifier(lapor, settings, smtp, webhook, clock)
    try:
        webhook.fail_next = 1000
        for _ in range(3):  # attempts 1..3 (max 3), each after its backoff
            service.run()
            clock.now += timedelta(hours=1)
        assert service.outbox.counts() == {"parked": 4}
        rows = service.outbox.rows()
        assert {r["attempts"] for r in rows} == {3}
        assert all(r["last_error"].startswith("gave up after 3 attempts") for r in rows)
        assert not any(EMAIL in r["last_error"] or PHONE in r["last_error"] for r in rows)

        smtp.up()
        webhook.fail_next = 0
        assert service.run().sent == 0  # parked stays parked
        assert service.retry_parked() == 4
        assert service.run().sent == 4
    finally:
        engine.dispose()
    assert sum(smtp.accepted.values()) == 2 and sum(webhook.accepted.values()) == 2


def test_an_erased_reporter_is_never_contacted(
    lapor: LaporApp, settings: Settings, smtp: SmtpReceiver, webhook: WebhookReceiver
) -> None:
    small_directory(lapor)
    _, ref = story(lapor)
    lapor.handle(
        parse_command(
            {"command": "erase_reporter", "actor": DESK, "reporter_ref": ref, "reason": "UU PDP"}
        )
    )
    smtp.up()
    clock = Clock(NOW + timedelta(minutes=5))
    service, engine = make_notifier(lapor, settings, smtp, webhook, clock)
    try:
        report = service.run()
    finally:
        engine.dispose()
    assert report.sent == 0 and report.skipped == 4
    assert smtp.mails == [] and webhook.bodies == []
    assert {r["last_error"] for r in service.outbox.rows()} == {"reporter erased"}
