"""complaint_states.resolution_mode: how a RESOLVED interval was resolved

Revision ID: 0002_state_resolution_mode
Revises: 0001_initial_projection_tables
Create Date: 2026-12-01 16:00:00

Statistics report completion with and without the desk's own closures (issue 10 item 3),
as of any time, so the mode belongs to the state interval. Current RESOLVED intervals get
the mode the facts table holds; earlier ones (a complaint reopened since) stay NULL until
the complaints read model is rebuilt (`lapor-es project rebuild complaints`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_state_resolution_mode"
down_revision: str | None = "0001_initial_projection_tables"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_states", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "resolution_mode",
                sa.String(length=32),
                nullable=True,
                comment="RESOLVED: how it was resolved",
            )
        )
    op.execute(
        "UPDATE complaint_states SET resolution_mode = ("
        " SELECT f.resolution_mode FROM complaint_facts f"
        " WHERE f.complaint_id = complaint_states.complaint_id)"
        " WHERE state = 'RESOLVED' AND until IS NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("complaint_states", schema=None) as batch_op:
        batch_op.drop_column("resolution_mode")
