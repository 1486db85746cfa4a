"""reporter keys and the previous release's secrets table, where absent

Revision ID: 0001_reporter_keys
Revises: (none: the first)
Create Date: 2026-12-01 18:50:00

A store made before this history already has the tables (privacy's `create_all` made
them): they are left as they are and the version is stamped.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_reporter_keys"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _absent(table: str) -> bool:
    return not sa.inspect(op.get_bind()).has_table(table)


def upgrade() -> None:
    if _absent("lapor_reporter_keys"):
        op.create_table(
            "lapor_reporter_keys",
            sa.Column("key_id", sa.String(length=36), nullable=False),
            sa.Column("reporter_ref", sa.String(length=64), nullable=False),
            sa.Column(
                "key",
                sa.LargeBinary(),
                nullable=False,
                comment="wrapped under the key-encryption key",
            ),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("key_id"),
        )
        op.create_index(
            "ix_lapor_reporter_keys_reporter_ref",
            "lapor_reporter_keys",
            ["reporter_ref"],
            unique=False,
        )
    if _absent("lapor_secrets"):
        op.create_table(
            "lapor_secrets",
            sa.Column("name", sa.String(length=64), nullable=False),
            sa.Column("value", sa.LargeBinary(), nullable=False),
            sa.PrimaryKeyConstraint("name"),
        )


def downgrade() -> None:
    op.drop_table("lapor_secrets")
    op.drop_index("ix_lapor_reporter_keys_reporter_ref", table_name="lapor_reporter_keys")
    op.drop_table("lapor_reporter_keys")
