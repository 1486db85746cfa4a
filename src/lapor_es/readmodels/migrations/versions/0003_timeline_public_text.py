"""complaint_timeline.text: the event's public text (a response, a reply, ...)

Revision ID: 0003_timeline_public_text
Revises: 0002_state_resolution_mode
Create Date: 2026-12-01 18:00:00

The tracking page shows the answer (issue 10 item 4). Entries projected before this revision
have no text until the timeline read model is rebuilt (`lapor-es project --rebuild timeline`).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_timeline_public_text"
down_revision: str | None = "0002_state_resolution_mode"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("complaint_timeline", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "text",
                sa.Text(),
                nullable=True,
                comment="the event's public text (aggregates.disclosure)",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("complaint_timeline", schema=None) as batch_op:
        batch_op.drop_column("text")
