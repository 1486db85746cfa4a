"""Alembic migrations of the auth tables, run from code (no alembic.ini).

The auth tables live on the event store's database (`Settings.database_url`: embedded SQLite
or PostgreSQL), which other schemas share: the eventsourcing tables, the reporter keys and,
by default, the read models with their own Alembic history. So this history has its own
version table, `lapor_auth_version`, and compares only its own tables
(lapor_es.alembic_history).
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData

from lapor_es.alembic_history import History
from lapor_es.auth.tables import metadata


def target_metadata() -> MetaData:
    return metadata


HISTORY = History(
    folder=Path(__file__).resolve().parent,
    version_table="lapor_auth_version",
    lock_key=0x1A90_A117,  # two server processes starting at once: one upgrades
    metadata=target_metadata,
)
VERSION_TABLE = HISTORY.version_table
config = HISTORY.config
script = HISTORY.script
current_revision = HISTORY.current_revision
is_current = HISTORY.is_current  # the door's readiness check
prepare = HISTORY.upgrade  # True if anything was applied
pending_changes = HISTORY.pending_changes
include_name = HISTORY.include_name
new_revision = HISTORY.new_revision
