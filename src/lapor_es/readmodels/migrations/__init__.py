"""Alembic migrations of the projection tables, run from code (no alembic.ini).

The migration environment ships inside the package, so an installed `lapor-es` can upgrade
the read-model database it is pointed at. Every entry point that writes read models calls
`prepare` first: migrate to head, create any non-live tables (a rebuild's `rb_` copies,
tests' own models), then (re)create the views. Views are derived from the tables, so they
are dropped before a migration that has work to do and recreated after, never migrated.

The version table is `projection_schema_version`, not Alembic's default, so another
Alembic-managed schema sharing the database cannot collide with ours.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, MetaData, inspect, text

from lapor_es.projections.core import ReadModel, create_views, drop_views, metadata

HERE = Path(__file__).resolve().parent
VERSION_TABLE = "projection_schema_version"
# An arbitrary constant: the PostgreSQL advisory lock that serialises concurrent upgrades.
_LOCK_KEY = 0x1A90_4E5
# The notifier's outbox came under this history in 0004: a database the read models' own
# create_all made is stamped at the revision before it, and upgraded.
OUTBOX = "notifications"
BEFORE_OUTBOX = "0003_timeline_public_text"


def target_metadata() -> MetaData:
    """The framework's tables plus every registered read model's live tables, in a fresh
    MetaData: what the migrations must produce. Fresh, so tables that tests or rebuilds
    registered at runtime in the shared `metadata` never count as schema."""
    from lapor_es.readmodels.registry import read_models
    from lapor_es.workflow import SlaPolicy, WorkingCalendar

    target = MetaData()
    for name in ("projection_tracking", "projection_versions", "projection_dead_letters"):
        metadata.tables[name].to_metadata(target)
    read_models(WorkingCalendar(), SlaPolicy(), table_metadata=target)  # tables only
    # The notifier's outbox shares this database and this history (revision 0004), though
    # its model keeps a MetaData of its own: it is not a read model of the registry.
    from lapor_es.notify.outbox import NotificationModel

    NotificationModel([], clock=None).define(target, "")
    return target


def config(connection: Connection | None = None) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(HERE))
    # Revision ids carry their number and slug (0002_add_inbox_region): the file is the id.
    cfg.set_main_option("file_template", "%%(rev)s")
    if importlib.util.find_spec("ruff") is not None:
        # Generated revisions are checked in: make them pass `ruff check` and `ruff format`.
        hooks = {
            "hooks": "ruff_format, ruff_fix",
            "ruff_format.type": "module",
            "ruff_format.module": "ruff",
            "ruff_format.options": "format --quiet REVISION_SCRIPT_FILENAME",
            "ruff_fix.type": "module",
            "ruff_fix.module": "ruff",
            "ruff_fix.options": "check --fix --quiet REVISION_SCRIPT_FILENAME",
        }
        for key, value in hooks.items():
            cfg.set_section_option("post_write_hooks", key, value)
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


def script() -> ScriptDirectory:
    return ScriptDirectory.from_config(config())


def current_revision(conn: Connection) -> str | None:
    context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def is_current(engine: Engine) -> bool:
    with engine.connect() as conn:
        return current_revision(conn) == script().get_current_head()


def migrate(engine: Engine, models: Sequence[ReadModel] = ()) -> bool:
    """Upgrade the database to head in one transaction. True if anything was applied.

    The `models`' views are dropped first when there is work to do (PostgreSQL refuses to
    alter a column a view uses, SQLite's table rebuilds break views) and not recreated
    here: `prepare` does that."""
    with engine.begin() as conn:
        _one_at_a_time(conn)  # two projectors starting at once: the second finds head
        current = current_revision(conn)
        if current == script().get_current_head():
            return False
        if current is None and _adopt(conn):
            return False
        drop_views(conn, models)
        command.upgrade(config(conn), "head")
    return True


def _adopt(conn: Connection) -> bool:
    """A database whose tables were made by `core.create_all` (no version table): if they
    already match the models exactly, stamp it as head instead of failing to create them
    again. Tables that exist but differ are an error a person must look at."""
    tables = set(inspect(conn).get_table_names())
    existing = tables & set(target_metadata().tables)
    if not existing:
        return False
    outbox_absent = OUTBOX not in tables  # create_all of the read models never made it
    changes = [c for c in _differences(conn) if not (outbox_absent and _of_outbox(c))]
    if changes:
        raise RuntimeError(
            f"projection tables {sorted(existing)} exist without a migration revision and "
            f"differ from the models ({len(changes)} difference(s), e.g. {changes[0]}); "
            "drop them (read models can be rebuilt) or stamp the right revision"
        )
    if outbox_absent:  # stamped before the outbox's revision: the upgrade adds it
        command.stamp(config(conn), BEFORE_OUTBOX)
        return False
    command.stamp(config(conn), "head")
    return True


def _of_outbox(change: Any) -> bool:
    """An autogenerate difference about the notifier's outbox table or its indexes."""
    item = change[1] if isinstance(change, tuple) and len(change) > 1 else None
    table = getattr(item, "table", item)
    return getattr(table, "name", None) == OUTBOX


def prepare(engine: Engine, models: Sequence[ReadModel]) -> None:
    """Make the database ready for `models`: migrations, non-live tables, views."""
    migrate(engine, models)
    with engine.begin() as conn:
        # Views are dropped and created again: two processes doing it at once collided
        # (DuplicateTable, found by the fault soak's two projectors starting together).
        _one_at_a_time(conn)
        others = {id(m.metadata): m.metadata for m in models if m.metadata is not metadata}
        for md in others.values():
            md.create_all(conn)
        create_views(conn, [m for m in models if m.metadata is metadata])


def _one_at_a_time(conn: Connection) -> None:
    """Hold, until this transaction ends, the lock that serializes preparing the read
    models on PostgreSQL (SQLite serializes writers by itself)."""
    if conn.dialect.name == "postgresql":
        conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _LOCK_KEY})


def pending_changes(engine: Engine) -> list[Any]:
    """What autogenerate would write if run now: [] when migrations match the models."""
    with engine.connect() as conn:
        return _differences(conn)


def _differences(conn: Connection) -> list[Any]:
    target = target_metadata()
    context = MigrationContext.configure(
        conn,
        opts={
            "version_table": VERSION_TABLE,
            "compare_type": True,
            "include_name": include_name_for(target),
        },
    )
    return list(compare_metadata(context, target))


def include_name_for(target: MetaData) -> Any:
    """Only our tables are compared: the read-model database may be the event store's own,
    and autogenerate must not propose dropping the store's tables."""

    def include_name(name: str | None, type_: str, parent_names: Any) -> bool:
        if type_ == "table":
            return name in target.tables
        return True

    return include_name


def new_revision(engine: Engine, message: str) -> Path:
    """Autogenerate the next revision from the difference between the models and `engine`
    (brought to head first). Returns the new file."""
    migrate(engine)
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
