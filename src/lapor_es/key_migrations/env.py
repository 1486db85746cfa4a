"""Alembic environment: always online, on the connection `key_migrations.config` hands in."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from lapor_es.key_migrations import VERSION_TABLE, include_name, target_metadata


def run() -> None:
    connection = context.config.attributes.get("connection")
    if not isinstance(connection, Connection):
        raise RuntimeError("key migrations run from code: lapor_es.key_migrations.prepare")
    context.configure(
        connection=connection,
        target_metadata=target_metadata(),
        version_table=VERSION_TABLE,
        include_name=include_name,
        compare_type=True,
        # SQLite alters tables by copy-and-rename: batch mode writes that for us.
        render_as_batch=connection.dialect.name == "sqlite",
    )
    with context.begin_transaction():
        context.run_migrations()


run()
