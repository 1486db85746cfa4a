"""Alembic migrations of the reporter-key tables, run from code (no alembic.ini).

The key tables (`lapor_reporter_keys`, and `lapor_secrets` that the release of issue 9 kept
the pepper in) live in the EVENT STORE's database: our recorders write a new reporter's key
in the same transaction as the events sealed under it (lapor_es.recorders), so they cannot
move to the read models' or the door's database. They get a history of their own, with its
own version table `lapor_keys_version`, rather than a place in the auth history (which
shares the database): the key store belongs to the write side and must open, and upgrade its
tables, in every process that writes events (the CLI, the door, the simulator), without the
door's tables or code.

Stores made before this history (by `metadata.create_all`) upgrade cleanly: the first
revision creates only the tables that are absent, then stamps the version.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import MetaData

from lapor_es.alembic_history import History


def target_metadata() -> MetaData:
    from lapor_es.privacy import metadata  # here: privacy imports this module lazily too

    return metadata


# Quiet: every process that writes events upgrades when it opens the store, and a worker's
# start (or its one startup.failed line) must not come after Alembic's "Context impl ...".
HISTORY = History(
    folder=Path(__file__).resolve().parent,
    version_table="lapor_keys_version",
    lock_key=0x1A90_7E75,
    metadata=target_metadata,
    quiet=True,
)
VERSION_TABLE = HISTORY.version_table
config = HISTORY.config
script = HISTORY.script
current_revision = HISTORY.current_revision
prepare = HISTORY.upgrade  # True if anything was applied
pending_changes = HISTORY.pending_changes
include_name = HISTORY.include_name
