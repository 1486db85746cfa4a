"""eventsourcing recorders that also write new reporter keys in the events' transaction.

A filing seals the reporter's identity under the reporter's key; a new reporter's key is
made for it. The key must be stored exactly when the events that need it are: before, a
failed save leaves an orphan key; after, a crash leaves events nobody can read. So the
new keys travel with the save (`LaporApp.save(..., reporter_keys=rows)`, rows from
`KeyStore.staged_rows`) and are inserted here, in the same database transaction as the
events, into the key store's table (lapor_es.privacy.reporter_keys), which lives in the
event store's database on SQLite and on PostgreSQL.

`lapor_es.config.eventsourcing_env` names these classes (APPLICATION_RECORDER_TOPIC).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import StoredEvent
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.sqlite import SQLiteApplicationRecorder, SQLiteCursor
from psycopg import Cursor
from psycopg.rows import DictRow

KEY_ROWS = "reporter_keys"  # the save keyword that carries the rows
_COLUMNS = "(key_id, reporter_ref, key, created_at)"
_SQLITE_DATETIME = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy's DateTime stores it on SQLite


class WritesReporterKeys:
    """Marks a recorder whose saves store `reporter_keys` rows in their transaction."""


class SqliteRecorder(SQLiteApplicationRecorder, WritesReporterKeys):
    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        rows: list[dict[str, Any]] = kwargs.get(KEY_ROWS) or []
        if rows:
            c.executemany(
                f"INSERT INTO lapor_reporter_keys {_COLUMNS} VALUES (?, ?, ?, ?)",
                [
                    (
                        r["key_id"],
                        r["reporter_ref"],
                        r["key"],
                        r["created_at"].strftime(_SQLITE_DATETIME),
                    )
                    for r in rows
                ],
            )
        return super()._insert_events(c, stored_events, **kwargs)


# Any constant shared by every process opening this store (read models and key tables have
# their own locks: alembic_history).
_CREATE_LOCK = 0x4C41504F52_01  # "LAPOR" 1


class PostgresRecorder(PostgresApplicationRecorder, WritesReporterKeys):
    def create_table(self) -> None:
        """eventsourcing creates (or replaces) the store's types, tables and functions in
        every process that opens the store, and PostgreSQL refuses simultaneous `CREATE OR
        REPLACE FUNCTION`s of one function ("tuple concurrently updated"): several workers
        starting together could die at startup. A session advisory lock makes them take
        turns (tests/integration/test_store_opens_concurrently.py)."""
        with self.datastore.get_connection() as conn:
            conn.execute("SELECT pg_advisory_lock(%s)", (_CREATE_LOCK,))
            try:
                super().create_table()
            finally:
                conn.execute("SELECT pg_advisory_unlock(%s)", (_CREATE_LOCK,))

    def _insert_events(
        self, curs: Cursor[DictRow], stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> None:
        rows: list[dict[str, Any]] = kwargs.get(KEY_ROWS) or []
        if rows:
            curs.executemany(
                f"INSERT INTO lapor_reporter_keys {_COLUMNS} VALUES (%s, %s, %s, %s)",
                [(r["key_id"], r["reporter_ref"], r["key"], r["created_at"]) for r in rows],
            )
        super()._insert_events(curs, stored_events, **kwargs)
