"""The notifier against a real local SMTP server (aiosmtpd) and a real local HTTP receiver.

Both receivers count the messages they accept per event id, so a duplicate send fails the
test; they can refuse (down, 503) and block (to kill the notifier mid-send).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import Engine
from structlog.testing import capture_logs

from lapor_es.application import LaporApp
from lapor_es.bootstrap import notifier, open_app, projection_engine
from lapor_es.commands import parse_command
from lapor_es.config import Settings
from lapor_es.kafka.relay import Relay
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.notify.channels import Channel, SmtpChannel, WebhookSmsChannel
from lapor_es.notify.messages import NOTIFYING
from lapor_es.notify.outbox import NotificationModel, Outbox
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
        # Counted on receipt: once the server has the data it delivers it, even if the
        # client never hears the 250 (the case of a client killed mid-send).
        self.accepted[str(mail["X-Lapor-Event"])] += 1
        if number == self.block_on:
            self.blocked.set()
            self.release.wait(DEADLINE_S)  # blocks this server's loop: one client at a time
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


# ---------------------------------------------------------------------- from Kafka
def test_from_kafka_through_the_consumer_loop(
    lapor: LaporApp,
    settings: Settings,
    kafka: KafkaSettings,
    smtp: SmtpReceiver,
    webhook: WebhookReceiver,
) -> None:
    small_directory(lapor)
    tid, _ = story(lapor)
    Relay(lapor.recorder, lapor.mapper, kafka, batch_size=40, poll_interval=0.02).run(follow=False)
    smtp.up()
    configured = settings.model_copy(
        update={
            "kafka_bootstrap": kafka.bootstrap,
            "kafka_topic": kafka.topic,
            "notify_group_id": f"notify-{kafka.topic}",
        }
    )
    engine = projection_engine(configured)
    try:
        channels: list[Channel] = [
            SmtpChannel(host="127.0.0.1", port=smtp.port, sender="lapor@example.id"),
            WebhookSmsChannel(url=webhook.url),
        ]
        service = notifier(
            configured,
            lapor,
            engine,
            clock=Clock(NOW + timedelta(minutes=5)),
            from_kafka=True,
            channels=channels,
        )
        assert service.run().sent == 4
        assert service.run().sent == 0  # read again from the tracking: nothing twice
    finally:
        engine.dispose()
    events = notifying_events(lapor, tid)
    assert smtp.accepted == Counter({e: 1 for e in events})
    assert webhook.accepted == Counter({e: 1 for e in events})


# ---------------------------------------------------------------------- kills
def notify_process(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "lapor_es.cli", "notify", *args],
        env=os.environ | env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_for(what: str, condition: Callable[[], bool], process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"notify exited while waiting for {what}: {process.stderr.read()}")  # type: ignore[union-attr]
        if time.monotonic() > deadline:
            process.kill()
            raise AssertionError(f"no {what} after {DEADLINE_S} s: {process.stderr.read()}")  # type: ignore[union-attr]
        time.sleep(0.05)


def test_a_kill_mid_batch_sends_nothing_twice(
    tmp_path: Path, smtp: SmtpReceiver, webhook: WebhookReceiver
) -> None:
    settings = Settings(
        _env_file=None,
        database_url=f"sqlite:///{tmp_path}/lapor.sqlite3",
        reporter_pepper="test-pepper",
    )
    lapor = open_app(settings, clock=lambda: NOW)
    try:
        small_directory(lapor)
        tracking_ids = [
            story(lapor, REPORTER | {"phone": f"08129876{n:04d}", "nik": f"317401987654{n:04d}"})[0]
            for n in range(4)
        ]
        events = set().union(*(notifying_events(lapor, tid) for tid in tracking_ids))
    finally:
        lapor.close()
    assert len(events) == 8
    env = {
        "LAPOR_DATABASE_URL": settings.database_url,
        "LAPOR_REPORTER_PEPPER": "test-pepper",
        "LAPOR_NOTIFY_SMTP_HOST": "127.0.0.1",
        "LAPOR_NOTIFY_SMTP_PORT": str(smtp.port),
        "LAPOR_NOTIFY_SMS_WEBHOOK_URL": webhook.url,
        "LAPOR_NOTIFY_LEASE_S": "1",  # an expired claim is in doubt a second later
        "LAPOR_NOTIFY_POLL_INTERVAL_S": "0.1",
        "LAPOR_NOTIFY_MAX_AGE_HOURS": "1000000",  # the story is dated NOW, in the past
        "LAPOR_LOG_FORMAT": "json",
    }
    outbox_engine = projection_engine(settings)
    outbox = Outbox(outbox_engine, NotificationModel(["email", "sms"], lambda: NOW))
    smtp.up()
    try:
        # 1. Killed while the SMTP server holds the 3rd e-mail (it has it: delivered).
        smtp.block_on = 3
        first = notify_process(env, "--follow")
        wait_for("a blocked e-mail", smtp.blocked.is_set, first)
        first.send_signal(signal.SIGKILL)
        first.wait()
        smtp.release.set()
        # 2. Killed while the gateway holds the 5th SMS (it has it too).
        webhook.block_on = 5
        second = notify_process(env, "--follow")
        wait_for("a blocked SMS", webhook.blocked.is_set, second)
        second.send_signal(signal.SIGKILL)
        second.wait()
        webhook.release.set()
        # 3. Runs to the end.
        third = notify_process(env, "--follow")
        wait_for(
            "every message settled",
            lambda: set(outbox.counts()) <= {"sent", "parked"} and bool(outbox.counts()),
            third,
        )
        third.send_signal(signal.SIGTERM)
        assert third.wait(timeout=DEADLINE_S) == 0, third.stderr.read()  # type: ignore[union-attr]
        rows = outbox.rows()
    finally:
        outbox_engine.dispose()

    # Every event reached each receiver exactly once. The SMS in doubt was sent again with
    # the same Idempotency-Key (the gateway saw two attempts and accepted one); the e-mail in
    # doubt was not sent again but parked, for the operator.
    assert smtp.accepted == Counter({e: 1 for e in events})
    assert webhook.accepted == Counter({e: 1 for e in events})
    assert sorted(webhook.attempts.values()) == [1] * 7 + [2]
    parked = [r for r in rows if r["status"] == "parked"]
    assert [(r["channel"], r["last_error"][:8]) for r in parked] == [("email", "in doubt")]
    assert sum(r["status"] == "sent" for r in rows) == 15

    # `notify retry` makes it due again: the operator's choice to risk a second copy.
    retried = subprocess.run(
        [sys.executable, "-m", "lapor_es.cli", "notify", "retry"],
        env=os.environ | env,
        capture_output=True,
        text=True,
        timeout=DEADLINE_S,
        check=True,
    )
    assert json.loads(retried.stdout.splitlines()[-1])["requeued"] == 1
