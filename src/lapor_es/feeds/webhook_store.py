"""The webhook tables (lapor_es.auth.tables, on the door's database) and every change to them.

Subscriptions are registered through the door (POST /v1/webhooks) and read by the worker.
The worker's two steps each commit on their own:

- queue (`enqueue`): the deliveries of a batch of feed records and the subscriptions' new
  positions, in ONE transaction, so a restart resumes exactly after the last queued record;
- deliver (`delivered`, `failed`): the outcome of one attempt and its log row, in ONE
  transaction, so what a receiver acknowledged is never sent again.

The order rule lives in `due`: a delivery is due only when no earlier record of the same
complaint, for the same subscription, is still undelivered (pending or parked).
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import Engine, and_, exists, func, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import aliased

from lapor_es.auth.tables import (
    utc,
    webhook_deliveries,
    webhook_delivery_log,
    webhook_positions,
    webhook_subscriptions,
)
from lapor_es.feeds.webhook_signing import SecretBox, new_secret

_ID_BYTES = 12


class Status(StrEnum):
    PENDING = "pending"  # to send at next_attempt_at (if nothing earlier of its complaint waits)
    DELIVERED = "delivered"  # a 2xx came back and was recorded
    PARKED = "parked"  # gave up after the attempts allowed: `lapor-es webhooks replay`


class WebhooksUnavailable(RuntimeError):
    """No LAPOR_WEBHOOKS_SECRET_KEY: secrets can be neither sealed nor opened."""


@dataclass(frozen=True)
class Subscription:
    id: str
    agency: str
    url: str
    description: str | None
    created_by: str
    created_at: datetime
    deleted_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "agency": self.agency,
            "url": self.url,
            "description": self.description,
            "created_at": self.created_at.isoformat(),
        }


@dataclass(frozen=True)
class Delivery:
    """One feed record for one subscription (the CloudEvent `body` is ready to send)."""

    subscription_id: str
    partition: int
    offset: int
    complaint_id: str
    ce_id: str
    body: str
    attempts: int


@dataclass(frozen=True)
class Queued:
    """A feed record to queue for a subscription (see `enqueue`)."""

    subscription_id: str
    partition: int
    offset: int
    complaint_id: str
    ce_id: str
    body: str


@dataclass(frozen=True)
class Attempt:
    """The outcome of one POST, as the delivery log records it."""

    number: int
    status_code: int | None
    latency_ms: int
    error: str | None
    at: datetime


Position = tuple[str, int]  # (subscription id, partition) of the subscription's feed topic


def new_subscription_id() -> str:
    return "wh_" + secrets.token_hex(_ID_BYTES)


class WebhookStore:
    """`box` seals and opens signing secrets; without it (no key configured) subscriptions
    can be listed and deleted, not registered or delivered to."""

    def __init__(self, engine: Engine, box: SecretBox | None) -> None:
        self.engine = engine
        self.box = box

    # ------------------------------------------------------------------ subscriptions
    def _box(self) -> SecretBox:
        if self.box is None:
            raise WebhooksUnavailable(
                "webhooks are off on this server: LAPOR_WEBHOOKS_SECRET_KEY is not set"
            )
        return self.box

    def create(
        self,
        agency: str,
        url: str,
        description: str | None,
        *,
        created_by: str,
        now: datetime,
    ) -> tuple[Subscription, str]:
        """A new subscription and its signing secret (shown once, stored sealed)."""
        box = self._box()
        secret = new_secret()
        subscription = Subscription(
            id=new_subscription_id(),
            agency=agency,
            url=url,
            description=description,
            created_by=created_by,
            created_at=now,
        )
        with self.engine.begin() as conn:
            conn.execute(
                insert(webhook_subscriptions).values(
                    id=subscription.id,
                    agency=agency,
                    url=url,
                    description=description,
                    secret_ciphertext=box.seal(secret, subscription.id),
                    created_by=created_by,
                    created_at=now,
                )
            )
        return subscription, secret

    def get(self, subscription_id: str) -> Subscription | None:
        """An active subscription (a deleted one is gone for its agency)."""
        t = webhook_subscriptions
        with self.engine.connect() as conn:
            row = conn.execute(
                select(t).where(t.c.id == subscription_id, t.c.deleted_at.is_(None))
            ).first()
        return None if row is None else _subscription(row)

    def active(self, agency: str | None = None) -> list[Subscription]:
        t = webhook_subscriptions
        query = select(t).where(t.c.deleted_at.is_(None)).order_by(t.c.created_at, t.c.id)
        if agency is not None:
            query = query.where(t.c.agency == agency)
        with self.engine.connect() as conn:
            return [_subscription(row) for row in conn.execute(query)]

    def delete(self, subscription_id: str, now: datetime) -> bool:
        """Stops deliveries to it; its log stays. False if there was no such active one."""
        t = webhook_subscriptions
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(t)
                .where(t.c.id == subscription_id, t.c.deleted_at.is_(None))
                .values(deleted_at=now)
            ).rowcount
        return bool(changed)

    def endpoints(self, subscription_ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        """id -> (url, signing secret) of the active subscriptions among `subscription_ids`."""
        box = self._box()
        t = webhook_subscriptions
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t.c.id, t.c.url, t.c.secret_ciphertext).where(
                    t.c.id.in_(list(subscription_ids)), t.c.deleted_at.is_(None)
                )
            ).all()
        return {row.id: (row.url, box.open(row.secret_ciphertext, row.id)) for row in rows}

    # ------------------------------------------------------------------ queueing
    def positions(self, topic: str, subscription_ids: Sequence[str]) -> dict[Position, int]:
        t = webhook_positions
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(t).where(t.c.topic == topic, t.c.subscription_id.in_(subscription_ids))
            ).all()
        return {(row.subscription_id, row.kafka_partition): row.next_offset for row in rows}

    def enqueue(
        self,
        topic_positions: Mapping[str, Mapping[Position, int]],
        queued: Sequence[Queued],
        now: datetime,
    ) -> None:
        """Queue `queued` and move the positions (topic -> (subscription, partition) ->
        next offset) in one transaction. A record queued twice (two workers, a replayed
        batch) is one row."""
        with self.engine.begin() as conn:
            insert_ = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            if queued:
                rows = [
                    {
                        "subscription_id": q.subscription_id,
                        "kafka_partition": q.partition,
                        "kafka_offset": q.offset,
                        "complaint_id": q.complaint_id,
                        "ce_id": q.ce_id,
                        "body": q.body,
                        "status": Status.PENDING.value,
                        "attempts": 0,
                        "next_attempt_at": now,
                        "created_at": now,
                    }
                    for q in queued
                ]
                conn.execute(insert_(webhook_deliveries).values(rows).on_conflict_do_nothing())
            t = webhook_positions
            for topic, moves in topic_positions.items():
                for (subscription_id, partition), offset in moves.items():
                    stmt = insert_(t).values(
                        subscription_id=subscription_id,
                        topic=topic,
                        kafka_partition=partition,
                        next_offset=offset,
                    )
                    conn.execute(
                        stmt.on_conflict_do_update(
                            index_elements=["subscription_id", "topic", "kafka_partition"],
                            set_={"next_offset": offset},
                        )
                    )

    # ------------------------------------------------------------------ delivering
    def due(self, now: datetime, limit: int) -> list[Delivery]:
        """Pending deliveries due now whose complaint has nothing earlier undelivered for
        the same subscription: at most one per (subscription, complaint), so they can be
        sent in parallel without breaking the order."""
        d = webhook_deliveries
        earlier = aliased(webhook_deliveries)
        s = webhook_subscriptions
        waits_behind = exists().where(
            earlier.c.subscription_id == d.c.subscription_id,
            earlier.c.complaint_id == d.c.complaint_id,
            earlier.c.kafka_partition == d.c.kafka_partition,  # a complaint is one partition
            earlier.c.kafka_offset < d.c.kafka_offset,
            earlier.c.status != Status.DELIVERED.value,
        )
        query = (
            select(d)
            .join(s, and_(s.c.id == d.c.subscription_id, s.c.deleted_at.is_(None)))
            .where(d.c.status == Status.PENDING.value, d.c.next_attempt_at <= now, ~waits_behind)
            .order_by(
                d.c.next_attempt_at, d.c.subscription_id, d.c.kafka_partition, d.c.kafka_offset
            )
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).all()
        return [
            Delivery(
                subscription_id=r.subscription_id,
                partition=r.kafka_partition,
                offset=r.kafka_offset,
                complaint_id=r.complaint_id,
                ce_id=r.ce_id,
                body=r.body,
                attempts=r.attempts,
            )
            for r in rows
        ]

    def delivered(self, delivery: Delivery, attempt: Attempt) -> None:
        """Acknowledged: never sent again. The body is cleared (the receiver has it)."""
        self._record(
            delivery,
            attempt,
            status=Status.DELIVERED.value,
            body=None,
            delivered_at=attempt.at,
            last_error=None,
        )

    def failed(self, delivery: Delivery, attempt: Attempt, *, retry_at: datetime | None) -> None:
        """Not acknowledged: due again at `retry_at`, or parked (None)."""
        status = Status.PENDING if retry_at is not None else Status.PARKED
        values: dict[str, Any] = {"status": status.value, "last_error": attempt.error}
        if retry_at is not None:
            values["next_attempt_at"] = retry_at
        self._record(delivery, attempt, **values)

    def _record(self, delivery: Delivery, attempt: Attempt, **values: Any) -> None:
        d = webhook_deliveries
        with self.engine.begin() as conn:
            conn.execute(
                update(d)
                .where(
                    d.c.subscription_id == delivery.subscription_id,
                    d.c.kafka_partition == delivery.partition,
                    d.c.kafka_offset == delivery.offset,
                )
                .values(attempts=attempt.number, **values)
            )
            conn.execute(
                insert(webhook_delivery_log).values(
                    subscription_id=delivery.subscription_id,
                    ce_id=delivery.ce_id,
                    attempt=attempt.number,
                    status_code=attempt.status_code,
                    latency_ms=attempt.latency_ms,
                    error=attempt.error,
                    at=attempt.at,
                )
            )

    def replay(
        self,
        now: datetime,
        *,
        subscription_id: str | None = None,
        complaint_id: str | None = None,
    ) -> int:
        """Parked deliveries -> pending, due now, with a fresh count of attempts."""
        d = webhook_deliveries
        query = update(d).where(d.c.status == Status.PARKED.value)
        if subscription_id is not None:
            query = query.where(d.c.subscription_id == subscription_id)
        if complaint_id is not None:
            query = query.where(d.c.complaint_id == complaint_id)
        with self.engine.begin() as conn:
            result = conn.execute(
                query.values(status=Status.PENDING.value, attempts=0, next_attempt_at=now)
            )
        return int(result.rowcount)

    # ------------------------------------------------------------------ reading
    def counts(self, subscription_id: str | None = None) -> dict[str, int]:
        """Deliveries per status (of one subscription, or of all)."""
        d = webhook_deliveries
        query = select(d.c.status, func.count()).group_by(d.c.status)
        if subscription_id is not None:
            query = query.where(d.c.subscription_id == subscription_id)
        with self.engine.connect() as conn:
            return {str(status): int(n) for status, n in conn.execute(query).all()}

    def log(self, subscription_id: str | None = None) -> list[dict[str, Any]]:
        """The delivery log, oldest first."""
        t = webhook_delivery_log
        query = select(t).order_by(t.c.id)
        if subscription_id is not None:
            query = query.where(t.c.subscription_id == subscription_id)
        with self.engine.connect() as conn:
            return [dict(row) | {"at": utc(row["at"])} for row in conn.execute(query).mappings()]

    def deliveries(self, subscription_id: str) -> list[dict[str, Any]]:
        """Every queued record of a subscription, in feed order (without bodies)."""
        d = webhook_deliveries
        columns = [c for c in d.c if c.name != "body"]
        query = (
            select(*columns)
            .where(d.c.subscription_id == subscription_id)
            .order_by(d.c.kafka_partition, d.c.kafka_offset)
        )
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]


def _subscription(row: Any) -> Subscription:
    return Subscription(
        id=row.id,
        agency=row.agency,
        url=row.url,
        description=row.description,
        created_by=row.created_by,
        created_at=utc(row.created_at),
        deleted_at=None if row.deleted_at is None else utc(row.deleted_at),
    )
