"""The auth tables, on the EVENT STORE's database (beside the events and the reporter keys).

Principals and access codes decide who may write events, so they live with the events and
are backed up with them, not with the read models (which can be rebuilt from scratch).
No column holds a token or a code: only SHA-256 digests of their random secrets.

The webhook tables (lapor_es.feeds.webhooks) live here for the same reason: none of them can
be rebuilt from the events (an endpoint's signing secret, what a receiver has acknowledged).
A signing secret is the one secret kept, encrypted (the sender needs it to sign; see
lapor_es.feeds.webhook_signing).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import BigInteger, Column, DateTime, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

principals = Table(
    "auth_principals",
    metadata,
    Column("id", String(16), primary_key=True),
    # Unique for all time: the name becomes the actor id in the history, so two principals
    # (or a revoked one and its successor) must never be told apart by id alone.
    Column("name", String(128), nullable=False, unique=True),
    Column("role", String(20), nullable=False),
    Column("agency", String(64), nullable=True),
    Column("channel", String(16), nullable=True),
    Column("secret_hash", String(64), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)

access_codes = Table(
    "auth_access_codes",
    metadata,
    Column("tracking_id", String(32), primary_key=True),
    Column("code_hash", String(64), nullable=False),
    Column("issued_at", DateTime(timezone=True), nullable=False),
)

access_failures = Table(
    "auth_access_failures",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("tracking_id", String(32), nullable=False),
    # SHA-256 of the client (an IP address is personal data; equality is all we need).
    Column("client_hash", String(64), nullable=False),
    Column("failed_at", DateTime(timezone=True), nullable=False),
    Index("ix_auth_access_failures_tracking", "tracking_id", "failed_at"),
    Index("ix_auth_access_failures_client", "client_hash", "failed_at"),
    Index("ix_auth_access_failures_failed_at", "failed_at"),  # pruning what has expired
)


# ----------------------------------------------------------------------- webhooks
webhook_subscriptions = Table(
    "webhook_subscriptions",
    metadata,
    Column("id", String(32), primary_key=True),  # wh_<24 hex>
    Column("agency", String(64), nullable=False, index=True),  # whose feed it receives
    Column("url", String(2048), nullable=False),
    Column("description", String(256), nullable=True),
    # AES-GCM under LAPOR_WEBHOOKS_SECRET_KEY, bound to the row's id: a digest would not do,
    # the sender needs the secret itself to sign.
    Column("secret_ciphertext", Text, nullable=False),
    Column("created_by", String(16), nullable=False),  # the principal's id
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("deleted_at", DateTime(timezone=True), nullable=True),  # kept for the log
)

# How far each subscription has taken its feed: the next offset per partition, committed
# in the transaction that queues the records before it (so a restart neither skips nor
# queues a record twice).
webhook_positions = Table(
    "webhook_positions",
    metadata,
    Column("subscription_id", String(32), primary_key=True),
    Column("topic", String(255), primary_key=True),
    Column("kafka_partition", Integer, primary_key=True),
    Column("next_offset", BigInteger, nullable=False),
)

# One row per feed record per subscription: what is to be delivered, in feed order.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("subscription_id", String(32), primary_key=True),
    Column("kafka_partition", Integer, primary_key=True),
    Column("kafka_offset", BigInteger, primary_key=True),
    Column("complaint_id", String(64), nullable=False),  # the record key
    Column("ce_id", String(160), nullable=False),  # sent as webhook-id
    Column("body", Text, nullable=True),  # the CloudEvent; cleared once delivered
    Column("status", String(10), nullable=False),  # pending, delivered, parked
    Column("attempts", Integer, nullable=False),
    Column("next_attempt_at", DateTime(timezone=True), nullable=False),
    Column("last_error", Text, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("delivered_at", DateTime(timezone=True), nullable=True),
    # A complaint's earlier, undelivered records (the order rule) and what is due.
    Index("ix_webhook_deliveries_complaint", "subscription_id", "complaint_id", "kafka_offset"),
    Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
)

# Every attempt, successful or not.
webhook_delivery_log = Table(
    "webhook_delivery_log",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("subscription_id", String(32), nullable=False),
    Column("ce_id", String(160), nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("status_code", Integer, nullable=True),  # null: no HTTP answer (timeout, refused)
    Column("latency_ms", Integer, nullable=False),
    Column("error", Text, nullable=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_webhook_delivery_log_subscription", "subscription_id", "ce_id"),
)


def utc(value: datetime) -> datetime:
    """SQLite hands timestamps back naive (they were stored as UTC): make them aware."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
