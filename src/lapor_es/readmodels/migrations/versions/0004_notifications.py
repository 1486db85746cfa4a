"""notifications: the notifier's outbox, under Alembic (where absent)

Revision ID: 0004_notifications
Revises: 0003_timeline_public_text
Create Date: 2026-12-01 18:50:00

Until this revision the notifier created its table itself (`create_all`): a database that
has it keeps it as it is, and is stamped.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_notifications"
down_revision: str | None = "0003_timeline_public_text"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("notifications"):
        return
    op.create_table(
        "notifications",
        sa.Column("complaint_id", sa.String(length=36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("tracking_id", sa.String(length=32), nullable=False),
        sa.Column("event_type", sa.String(length=40), nullable=False),
        sa.Column("event_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False, comment="the public payload, no identity"),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "last_error",
            sa.Text(),
            nullable=True,
            comment="never personal data: addresses are scrubbed",
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("complaint_id", "version", "channel"),
    )
    op.create_index("ix_notifications_status", "notifications", ["status"], unique=False)
    op.create_index(
        "ix_notifications_next_attempt_at", "notifications", ["next_attempt_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_notifications_next_attempt_at", table_name="notifications")
    op.drop_index("ix_notifications_status", table_name="notifications")
    op.drop_table("notifications")
