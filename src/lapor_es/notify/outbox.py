"""The notifications table (read-model database) and every change of a row's status.

Exactly once per (event, channel):

1. The consumer step is a read model (`NotificationModel`) run by the projection engine:
   the rows of a batch of events and the consumer's tracking commit in ONE transaction, and
   (complaint, version) claims skip redeliveries. A row's key is (complaint, version,
   channel): an event never gets two rows for a channel.
2. A send is claimed first (pending -> sending, attempts + 1, committed) and its outcome
   recorded right after (sent, skipped, pending again with a backoff, or parked). A claim
   holds a lease: another notifier leaves the row alone while it runs.
3. A row still `sending` after its lease means the process died during the send, and nobody
   knows if the message went out. `recover_in_doubt` sends it again only on a channel whose
   receiver recognises a repeat (the SMS gateway, by its Idempotency-Key); on e-mail it is
   parked ("in doubt"), so a citizen never gets the same e-mail twice unasked; `notify
   retry` sends parked rows again.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    func,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lapor_es.notify.messages import NOTIFYING
from lapor_es.projections.core import ReadModel
from lapor_es.projections.events import ProjectedEvent
from lapor_es.readmodels.timestamps import as_utc

# Not in the projection engine's metadata, but under the read models' Alembic history
# (readmodels/migrations, revision 0004_notifications): `prepare` migrates it.
notify_metadata = MetaData()
TABLE = "notifications"


class Status(StrEnum):
    PENDING = "pending"  # to send at next_attempt_at
    SENDING = "sending"  # claimed until lease_until
    SENT = "sent"
    SKIPPED = "skipped"  # not sent, on purpose (erased reporter, no address, too old)
    PARKED = "parked"  # gave up after the attempts allowed, or in doubt: `notify retry`


@dataclass(frozen=True)
class Notification:
    complaint_id: str
    version: int
    channel: str
    tracking_id: str
    event_type: str
    event_at: datetime
    payload: dict[str, Any]
    attempts: int

    @property
    def event_id(self) -> str:
        """Stable per event: `<complaint id>:<version>`, as the published ce_id."""
        return f"{self.complaint_id}:{self.version}"

    @property
    def idempotency_key(self) -> str:
        return f"{self.event_id}:{self.channel}"


class NotificationModel(ReadModel):
    """The consumer step: one pending row per notifying event and configured channel."""

    name = "notifications"

    def __init__(self, channels: Sequence[str], clock: Any) -> None:
        self.channels = list(channels)
        self.clock = clock
        super().__init__(table_metadata=notify_metadata)

    @classmethod
    def table_names(cls) -> Sequence[str]:
        return [TABLE]

    def define(self, md: MetaData, prefix: str) -> None:
        Table(
            prefix + TABLE,
            md,
            Column("complaint_id", String(36), primary_key=True),
            Column("version", Integer, primary_key=True),
            Column("channel", String(16), primary_key=True),
            Column("tracking_id", String(32), nullable=False),
            Column("event_type", String(40), nullable=False),
            Column("event_at", DateTime(timezone=True), nullable=False),
            Column("payload", Text, nullable=False, comment="the public payload, no identity"),
            Column("status", String(10), nullable=False, index=True),
            Column("attempts", Integer, nullable=False),
            Column("next_attempt_at", DateTime(timezone=True), nullable=False, index=True),
            Column("lease_until", DateTime(timezone=True)),
            Column("last_error", Text, comment="never personal data: addresses are scrubbed"),
            Column("created_at", DateTime(timezone=True), nullable=False),
            Column("updated_at", DateTime(timezone=True), nullable=False),
            keep_existing=True,
        )

    def apply(self, conn: Connection, event: ProjectedEvent) -> None:
        if event.type not in NOTIFYING or not self.channels:
            return
        now = self.clock()
        table = self.table(TABLE)
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        rows = [
            {
                "complaint_id": event.complaint_id,
                "version": event.version,
                "channel": channel,
                "tracking_id": event.payload.tracking_id,
                "event_type": event.type,
                "event_at": event.at,
                "payload": json.dumps(event.raw, sort_keys=True),
                "status": Status.PENDING.value,
                "attempts": 0,
                "next_attempt_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for channel in self.channels
        ]
        conn.execute(insert(table).values(rows).on_conflict_do_nothing())


class Outbox:
    """Reads and status changes of the notifications table (each its own transaction)."""

    def __init__(self, engine: Engine, model: NotificationModel) -> None:
        self.engine = engine
        self.table = model.table(TABLE)

    def _key(self, n: Notification) -> Any:
        t = self.table
        return and_(
            t.c.complaint_id == n.complaint_id, t.c.version == n.version, t.c.channel == n.channel
        )

    def due(self, now: datetime, limit: int) -> list[Notification]:
        t = self.table
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(t)
                    .where(and_(t.c.status == Status.PENDING.value, t.c.next_attempt_at <= now))
                    .order_by(t.c.next_attempt_at, t.c.complaint_id, t.c.version, t.c.channel)
                    .limit(limit)
                )
                .mappings()
                .all()
            )
        return [_notification(r) for r in rows]

    def claim(self, n: Notification, now: datetime, lease: timedelta) -> bool:
        """pending -> sending; False when another notifier claimed it first."""
        t = self.table
        with self.engine.begin() as conn:
            result = conn.execute(
                update(t)
                .where(and_(self._key(n), t.c.status == Status.PENDING.value))
                .values(
                    status=Status.SENDING.value,
                    attempts=t.c.attempts + 1,
                    lease_until=now + lease,
                    updated_at=now,
                )
                .execution_options(preserve_rowcount=True)
            )
        return bool(result.rowcount == 1)

    def finish(
        self,
        n: Notification,
        status: Status,
        now: datetime,
        *,
        error: str | None = None,
        next_attempt_at: datetime | None = None,
    ) -> None:
        values: dict[str, Any] = {"status": status.value, "lease_until": None, "updated_at": now}
        values["last_error"] = error
        if next_attempt_at is not None:
            values["next_attempt_at"] = next_attempt_at
        with self.engine.begin() as conn:
            conn.execute(update(self.table).where(self._key(n)).values(**values))

    def in_doubt(self, now: datetime) -> list[Notification]:
        """Rows whose claim outlived its lease: their process died during the send."""
        t = self.table
        with self.engine.connect() as conn:
            rows = (
                conn.execute(
                    select(t).where(and_(t.c.status == Status.SENDING.value, t.c.lease_until < now))
                )
                .mappings()
                .all()
            )
        return [_notification(r) for r in rows]

    def release(self, n: Notification, status: Status, now: datetime, error: str) -> bool:
        """An expired claim -> `status` (pending to send again, or parked)."""
        t = self.table
        with self.engine.begin() as conn:
            result = conn.execute(
                update(t)
                .where(
                    and_(self._key(n), t.c.status == Status.SENDING.value, t.c.lease_until < now)
                )
                .values(
                    status=status.value,
                    lease_until=None,
                    next_attempt_at=now,
                    last_error=error,
                    updated_at=now,
                )
                .execution_options(preserve_rowcount=True)
            )
        return bool(result.rowcount == 1)

    def retry_parked(self, now: datetime) -> int:
        """Parked rows -> pending, due now, with a fresh count of attempts."""
        t = self.table
        with self.engine.begin() as conn:
            result = conn.execute(
                update(t)
                .where(t.c.status == Status.PARKED.value)
                .values(
                    status=Status.PENDING.value, attempts=0, next_attempt_at=now, updated_at=now
                )
                .execution_options(preserve_rowcount=True)
            )
        return int(result.rowcount)

    def counts(self) -> dict[str, int]:
        t = self.table
        with self.engine.connect() as conn:
            rows = conn.execute(select(t.c.status, func.count()).group_by(t.c.status)).all()
        return {str(status): int(n) for status, n in rows}

    def rows(self) -> list[dict[str, Any]]:
        """Every row without its payload (tests, `notify status --rows`)."""
        t = self.table
        columns = [c for c in t.c if c.name != "payload"]
        with self.engine.connect() as conn:
            rows = conn.execute(select(*columns).order_by(t.c.complaint_id, t.c.version))
            return [dict(r) for r in rows.mappings()]


def _notification(row: Any) -> Notification:
    return Notification(
        complaint_id=row["complaint_id"],
        version=row["version"],
        channel=row["channel"],
        tracking_id=row["tracking_id"],
        event_type=row["event_type"],
        event_at=as_utc(row["event_at"]),
        payload=json.loads(row["payload"]),
        attempts=row["attempts"],
    )
