"""The notifier service: consume events into the outbox, send what is due, retry, park.

Two steps, each crash-safe on its own (outbox.py says why a send happens once):

- consume: the projection engine feeds `NotificationModel` from the store's notification
  log (in-process, the embedded default) or from Kafka through the one consumer loop (a
  consumer group); the rows and the tracking commit together.
- send: due rows are claimed, the reporter's identity is decrypted for that send only (never
  for an erased reporter, never logged), the message goes out, the outcome is recorded.
  A failure is retried after `base * 2^(attempt-1)` seconds (capped), and parked after
  `max_attempts`; `lapor-es notify retry` sends parked rows again.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy import Engine

from lapor_es import observability
from lapor_es.aggregates import DomainError
from lapor_es.application import LaporApp, utc_now
from lapor_es.backoff import exponential
from lapor_es.contract.payloads import PAYLOAD_ADAPTER
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.notify.channels import Channel, SendError
from lapor_es.notify.messages import message_for
from lapor_es.notify.outbox import Notification, NotificationModel, Outbox, Status
from lapor_es.projections.core import Projector
from lapor_es.projections.runners import KafkaRunner, LocalRunner

log = structlog.get_logger("lapor_es.notify")

# The reason recorded for a reporter no channel can reach (a social-media account only).
NO_CHANNEL = "no channel: the reporter gave no phone or e-mail"

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 8
    backoff_base_s: float = 30.0
    backoff_max_s: float = 3600.0
    lease_s: float = 300.0  # longer than any send may take (the channels' timeouts)

    def backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt: base, 2 base, 4 base, ..."""
        return exponential(attempts, self.backoff_base_s, self.backoff_max_s)


@dataclass
class SendReport:
    sent: int = 0
    skipped: int = 0
    retrying: int = 0
    parked: int = 0
    in_doubt: int = 0  # expired claims found: sent again (repeat-safe channel) or parked

    def merge(self, other: SendReport) -> None:
        self.sent += other.sent
        self.skipped += other.skipped
        self.retrying += other.retrying
        self.parked += other.parked
        self.in_doubt += other.in_doubt

    def as_dict(self) -> dict[str, int]:
        return {
            "sent": self.sent,
            "skipped": self.skipped,
            "retrying": self.retrying,
            "parked": self.parked,
            "in_doubt": self.in_doubt,
        }


class Notifier:
    """`channels` are the configured ones; `kafka` set = consume from Kafka as the consumer
    group `group_id`, else from the store in-process. `max_age`: an event older than this
    when its turn comes is skipped, not sent (a notifier started on a store with years of
    history, or after a long outage, must not send stale news)."""

    def __init__(
        self,
        lapor: LaporApp,
        engine: Engine,
        channels: Sequence[Channel],
        *,
        policy: RetryPolicy | None = None,
        clock: Clock = utc_now,
        max_age: timedelta = timedelta(hours=72),
        batch_size: int = 100,
        poll_interval: float = 1.0,
        kafka: KafkaSettings | None = None,
        group_id: str = "lapor-es-notifier",
    ) -> None:
        self.lapor = lapor
        self.channels = {channel.name: channel for channel in channels}
        self.policy = policy or RetryPolicy()
        self.clock = clock
        self.max_age = max_age
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.model = NotificationModel(list(self.channels), clock)
        self.outbox = Outbox(engine, self.model)
        self.projector = Projector(engine, [self.model])
        self.stop = threading.Event()
        self.kafka_runner = (
            KafkaRunner(kafka, group_id, self.projector, client_id="lapor-es-notifier")
            if kafka is not None
            else None
        )
        self.local_runner = (
            LocalRunner(lapor.recorder, lapor.mapper, self.projector) if kafka is None else None
        )

    # ------------------------------------------------------------------ running
    def run(self, *, follow: bool = False) -> SendReport:
        """Consume and send until caught up (and nothing is due), or until stopped."""
        report = SendReport()
        consumer = None
        if self.kafka_runner is not None:
            self.kafka_runner.stop = self.stop
            if follow:
                consumer = threading.Thread(
                    target=self.kafka_runner.run, kwargs={"follow": True}, daemon=True
                )
                consumer.start()
            else:
                self.kafka_runner.run(follow=False)
        try:
            while not self.stop.is_set():
                if self.local_runner is not None:
                    self.local_runner.run(follow=False)
                pass_report = self.send_pass()
                report.merge(pass_report)
                if not follow:
                    break
                self.stop.wait(self.poll_interval)
        finally:
            if consumer is not None:  # following ends only when stopped; stop the consumer too
                self.stop.set()
                consumer.join(timeout=30)
        return report

    def send_pass(self) -> SendReport:
        """Settle expired claims, then send everything due now, batch after batch."""
        report = SendReport()
        self.recover_in_doubt(report)
        while not self.stop.is_set():
            due = self.outbox.due(self.clock(), self.batch_size)
            if not due:
                break
            for notification in due:
                self.send_one(notification, report)
        metrics = observability.current()  # consumed events are counted by the runner
        metrics.retried(report.retrying)
        metrics.parked(report.parked)
        return report

    # ------------------------------------------------------------------ one send
    def send_one(self, n: Notification, report: SendReport) -> None:
        now = self.clock()
        lease = timedelta(seconds=self.policy.lease_s)
        if not self.outbox.claim(n, now, lease):
            return  # another notifier has it
        attempt = n.attempts + 1
        channel = self.channels.get(n.channel)
        if channel is None:
            self._park(n, f"channel {n.channel} is not configured", report)
            return
        if now - n.event_at > self.max_age:
            self._skip(n, f"older than {self.max_age} when its turn came", report)
            return
        payload = PAYLOAD_ADAPTER.validate_python(n.payload)
        message = message_for(payload, self._agency_name)
        if message is None:
            self._skip(n, f"{n.event_type} does not notify", report)
            return
        identity = self.lapor.identity(self.lapor.complaint(n.complaint_id))
        if identity is None:
            self._skip(n, "reporter erased", report)
            return
        address = channel.address(identity)
        # A social-media report may carry only the account: no channel reaches it.
        reachable = identity.phone is not None or identity.email is not None
        del identity  # decrypted for this send only
        if address is None:
            reason = f"no {channel.name} address" if reachable else NO_CHANNEL
            self._skip(n, reason, report)
            return
        try:
            channel.send(n, message, address)
        except SendError as exc:
            self._failed(n, attempt, str(exc), report)
            return
        except Exception as exc:  # a bug: keep the row, never the message (it may hold data)
            self._failed(n, attempt, f"unexpected {type(exc).__name__}", report)
            return
        self.outbox.finish(n, Status.SENT, self.clock())
        report.sent += 1
        log.info(
            "notify.sent",
            complaint_id=n.complaint_id,
            version=n.version,
            event_type=n.event_type,
            channel=n.channel,
            attempt=attempt,
        )

    def _failed(self, n: Notification, attempt: int, error: str, report: SendReport) -> None:
        now = self.clock()
        if attempt >= self.policy.max_attempts:
            self._park(n, f"gave up after {attempt} attempts: {error}", report)
            return
        retry_at = now + self.policy.backoff(attempt)
        self.outbox.finish(n, Status.PENDING, now, error=error, next_attempt_at=retry_at)
        report.retrying += 1
        log.warning(
            "notify.send_failed",
            complaint_id=n.complaint_id,
            version=n.version,
            channel=n.channel,
            attempt=attempt,
            error=error,
            retry_at=retry_at.isoformat(),
        )

    def _park(self, n: Notification, error: str, report: SendReport) -> None:
        self.outbox.finish(n, Status.PARKED, self.clock(), error=error)
        report.parked += 1
        log.warning(
            "notify.parked",
            complaint_id=n.complaint_id,
            version=n.version,
            channel=n.channel,
            error=error,
        )

    def _skip(self, n: Notification, reason: str, report: SendReport) -> None:
        self.outbox.finish(n, Status.SKIPPED, self.clock(), error=reason)
        report.skipped += 1
        log.info(
            "notify.skipped",
            complaint_id=n.complaint_id,
            version=n.version,
            channel=n.channel,
            reason=reason,
        )

    def _agency_name(self, code: str) -> str:
        try:
            return self.lapor.agency(code).name
        except DomainError:
            return code

    # ------------------------------------------------------------------ in doubt, parked
    def recover_in_doubt(self, report: SendReport) -> None:
        """Claims that outlived their lease (the process died during the send)."""
        now = self.clock()
        for n in self.outbox.in_doubt(now):
            channel = self.channels.get(n.channel)
            if channel is not None and channel.repeat_safe:
                status, error = (
                    Status.PENDING,
                    "in doubt: sent again (the receiver ignores a repeat)",
                )
            else:
                status, error = (
                    Status.PARKED,
                    "in doubt: the process stopped during the send; it may have been delivered",
                )
            if self.outbox.release(n, status, now, error):
                report.in_doubt += 1
                log.warning(
                    "notify.in_doubt",
                    complaint_id=n.complaint_id,
                    version=n.version,
                    channel=n.channel,
                    status=status.value,
                )

    def retry_parked(self) -> int:
        """Parked rows become due again now (`lapor-es notify retry`)."""
        count = self.outbox.retry_parked(self.clock())
        log.info("notify.retry_parked", notifications=count)
        return count
