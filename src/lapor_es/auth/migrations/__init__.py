"""Alembic migrations of the auth tables, run from code (no alembic.ini).

The auth tables live on the event store's database (`Settings.database_url`: embedded SQLite
or PostgreSQL), which other schemas share: the eventsourcing tables, the reporter keys and,
by default, the read models with their own Alembic history. So this environment has its own
version table, `lapor_auth_version`, and compares only its own tables.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, text

from lapor_es.auth.tables import metadata

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "lapor_auth_version"
# An arbitrary constant: the PostgreSQL advisory lock that serialises concurrent upgrades
# (two server processes starting at once).
_LOCK_KEY = 0x1A90_A117


def target_metadata() -> MetaData:
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


def is_current(engine: Engine) -> bool:
    """True when the auth tables are at head (the door's readiness check)."""
    with engine.connect() as conn:
        return current_revision(conn) == script().get_current_head()


def prepare(engine: Engine) -> bool:
    """Upgrade the auth tables to head in one transaction. True if anything was applied."""
    with engine.begin() as conn:
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
        return list(compare_metadata(context, metadata))


def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
    """Only our tables: the database also holds the event store's and the read models'."""
    return type_ != "table" or name in metadata.tables


def new_revision(engine: Engine, message: str) -> Path:
    """Autogenerate the next revision from the difference between `lapor_es.auth.tables`
    and `engine` (brought to head first). Returns the new file; check it in."""
    prepare(engine)
    head = script().get_current_head()
    number = int(head.split("_", 1)[0]) + 1 if head else 1
    slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "change"
    with engine.begin() as conn:
        made = command.revision(
            config(conn), message=message, autogenerate=True, rev_id=f"{number:04d}_{slug}"
        )
    if made is None or isinstance(made, list):
        raise RuntimeError("alembic made no single revision")
    return Path(made.path)
