"""One Alembic history run from code (no alembic.ini) beside others in the same database.

The event store's database holds several schemas, each with its own history: the door's
auth tables (`lapor_auth_version`) and the reporter-key tables (`lapor_keys_version`); the
read models have theirs too (readmodels/migrations, which adds adopting tables made by
`create_all`). So a history names its version table, compares only its own tables, and
serializes concurrent upgrades (several processes opening one store at once) with a
PostgreSQL advisory lock of its own.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command, context
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, text

from lapor_es.logging import quiet


@dataclass(frozen=True)
class History:
    """The revisions in `folder` of the tables in `metadata()`, versioned in
    `version_table`; upgrades hold the advisory lock `lock_key` (an arbitrary constant)."""

    folder: Path
    version_table: str
    lock_key: int
    metadata: Callable[[], MetaData]
    quiet: bool = False  # keep Alembic's log lines out of every process start

    def config(self, connection: Connection | None = None) -> Config:
        cfg = Config()
        cfg.set_main_option("script_location", str(self.folder))
        cfg.set_main_option("file_template", "%%(rev)s")  # the revision id is the file name
        if connection is not None:
            cfg.attributes["connection"] = connection
        return cfg

    def script(self) -> ScriptDirectory:
        return ScriptDirectory.from_config(self.config())

    def current_revision(self, conn: Connection) -> str | None:
        return MigrationContext.configure(
            conn, opts={"version_table": self.version_table}
        ).get_current_revision()

    def is_current(self, engine: Engine) -> bool:
        with engine.connect() as conn:
            return self.current_revision(conn) == self.script().get_current_head()

    def upgrade(self, engine: Engine) -> bool:
        """Upgrade to head in one transaction. True if anything was applied."""
        with quiet("alembic") if self.quiet else contextlib.nullcontext(), engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": self.lock_key})
            if self.current_revision(conn) == self.script().get_current_head():
                return False
            command.upgrade(self.config(conn), "head")
        return True

    def pending_changes(self, engine: Engine) -> list[Any]:
        """What autogenerate would write if run now: [] when the migrations match the tables."""
        with engine.connect() as conn:
            migration = MigrationContext.configure(
                conn,
                opts={
                    "version_table": self.version_table,
                    "compare_type": True,
                    "include_name": self.include_name,
                },
            )
            return list(compare_metadata(migration, self.metadata()))

    def include_name(self, name: str | None, type_: str, parent_names: Any) -> bool:
        """Only this history's tables: the database holds other schemas too."""
        return type_ != "table" or name in self.metadata().tables

    def new_revision(self, engine: Engine, message: str) -> Path:
        """Autogenerate the next revision from the difference between the tables and
        `engine` (brought to head first). Returns the new file; check it in."""
        self.upgrade(engine)
        head = self.script().get_current_head()
        number = int(head.split("_", 1)[0]) + 1 if head else 1
        slug = re.sub(r"[^a-z0-9]+", "_", message.lower()).strip("_")[:40] or "change"
        with engine.begin() as conn:
            made = command.revision(
                self.config(conn), message=message, autogenerate=True,
                rev_id=f"{number:04d}_{slug}",
            )  # fmt: skip
        if made is None or isinstance(made, list):
            raise RuntimeError("alembic made no single revision")
        return Path(made.path)

    def run_env(self) -> None:
        """The body of the history's env.py: always online, on the connection `config`
        handed in (these histories run from code only)."""
        connection = context.config.attributes.get("connection")
        if not isinstance(connection, Connection):
            raise RuntimeError(f"{self.version_table} migrations run from code only")
        context.configure(
            connection=connection,
            target_metadata=self.metadata(),
            version_table=self.version_table,
            include_name=self.include_name,
            compare_type=True,
            # SQLite alters tables by copy-and-rename: batch mode writes that for us.
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
