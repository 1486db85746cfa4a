"""auth tables: principals, reporter access codes, failed code checks

Revision ID: 0001_auth_tables
Revises: (none: the first)
Create Date: 2026-12-01 15:10:30.557063
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_auth_tables"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "auth_access_codes",
        sa.Column("tracking_id", sa.String(length=32), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("tracking_id"),
    )
    op.create_table(
        "auth_access_failures",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tracking_id", sa.String(length=32), nullable=False),
        sa.Column("client_hash", sa.String(length=64), nullable=False),
        sa.Column("failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("auth_access_failures", schema=None) as batch_op:
        batch_op.create_index(
            "ix_auth_access_failures_client", ["client_hash", "failed_at"], unique=False
        )
        batch_op.create_index("ix_auth_access_failures_failed_at", ["failed_at"], unique=False)
        batch_op.create_index(
            "ix_auth_access_failures_tracking", ["tracking_id", "failed_at"], unique=False
        )

    op.create_table(
        "auth_principals",
        sa.Column("id", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("agency", sa.String(length=64), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("secret_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("auth_principals")
    with op.batch_alter_table("auth_access_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_auth_access_failures_tracking")
        batch_op.drop_index("ix_auth_access_failures_failed_at")
        batch_op.drop_index("ix_auth_access_failures_client")

    op.drop_table("auth_access_failures")
    op.drop_table("auth_access_codes")
