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
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, text

from lapor_es.logging import quiet

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "lapor_keys_version"
# An arbitrary constant: the PostgreSQL advisory lock that serialises concurrent upgrades
# (several writers opening one store at once).
_LOCK_KEY = 0x1A90_7E75


def target_metadata() -> MetaData:
    from lapor_es.privacy import metadata  # here: privacy imports this module lazily too

    return metadata


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    cfg.set_main_option("file_template", "%%(rev)s")  # the revision id is the file name
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def current_revision(conn: Connection) -> str | None:
    return MigrationContext.configure(
        conn, opts={"version_table": VERSION_TABLE}
    ).get_current_revision()


def prepare(engine: Engine) -> bool:
    """Upgrade the key tables to head in one transaction. True if anything was applied.

    Quietly: every process that writes events runs this when it opens the store, and a
    worker's start (or its one startup.failed line) must not come after Alembic's chatter
    ("Context impl ...", at every check)."""
    with quiet("alembic"), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})
        if current_revision(conn) == script().get_current_head():
            return False
        command.upgrade(config(conn), "head")
    return True


def pending_changes(engine: Engine) -> list[Any]:
    """What autogenerate would write if run now: [] when the migrations match the tables."""
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "version_table": VERSION_TABLE,
                "compare_type": True,
                "include_name": include_name,
            },
        )
        return list(compare_metadata(context, target_metadata()))


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Only our tables: the database also holds the events, the auth and read-model tables."""
    return type_ != "table" or name in target_metadata().tables
