"""The reporter-key tables under their own Alembic history (lapor_keys_version), on SQLite
and PostgreSQL: a fresh store is migrated to head; a store whose tables the previous release
made with `create_all` is stamped without losing a key; models and migrations agree."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, create_engine, insert, inspect, select

from lapor_es import key_migrations
from lapor_es.config import sqlalchemy_url
from lapor_es.privacy import metadata, prepare_tables, reporter_keys

pytestmark = pytest.mark.integration


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    made = create_engine(sqlalchemy_url(database_url))
    yield made
    made.dispose()


def at_head(engine: Engine) -> bool:
    with engine.connect() as conn:
        current = key_migrations.current_revision(conn)
    return current == key_migrations.script().get_current_head()


def test_a_fresh_store_is_migrated_to_head(engine: Engine) -> None:
    assert not at_head(engine)
    assert key_migrations.prepare(engine) is True
    assert at_head(engine)
    assert {"lapor_reporter_keys", "lapor_secrets"} <= set(inspect(engine).get_table_names())
    assert key_migrations.pending_changes(engine) == []  # the models and migrations agree
    assert key_migrations.prepare(engine) is False  # at head: nothing to do


def test_a_store_made_by_create_all_upgrades_and_keeps_its_keys(engine: Engine) -> None:
    metadata.create_all(engine)  # as the previous release made the tables
    key = {
        "key_id": "6f1c2d3e-0000-4000-8000-000000000001",
        "reporter_ref": "rep-" + "a" * 32,
        "key": b"\x01" * 61,
        "created_at": datetime(2026, 11, 30, tzinfo=UTC),
    }
    with engine.begin() as conn:
        conn.execute(insert(reporter_keys).values(**key))

    prepare_tables(engine)  # what the key store does on open

    assert at_head(engine)
    assert key_migrations.pending_changes(engine) == []
    with engine.connect() as conn:
        (row,) = conn.execute(select(reporter_keys)).mappings().all()
    assert row["key_id"] == key["key_id"] and bytes(row["key"]) == key["key"]
