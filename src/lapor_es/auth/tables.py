"""The auth tables, on the EVENT STORE's database (beside the events and the reporter keys).

Principals and access codes decide who may write events, so they live with the events and
are backed up with them, not with the read models (which can be rebuilt from scratch).
No column holds a token or a code: only SHA-256 digests of their random secrets.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import Column, DateTime, Index, Integer, MetaData, String, Table

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


def utc(value: datetime) -> datetime:
    """SQLite hands timestamps back naive (they were stored as UTC): make them aware."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
