"""`execute_many` writes exactly what SQLAlchemy's own executemany writes: the same values
after the column types' bind processing (datetimes on SQLite, JSON), for inserts (COPY on
PostgreSQL), updates keyed by a bind parameter and deletes, on SQLite and PostgreSQL."""

from __future__ import annotations

import gc
import weakref
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    bindparam,
    delete,
    event,
    insert,
    select,
    update,
)

from lapor_es.bootstrap import projection_engine_at
from lapor_es.projections.bulk import execute_many

pytestmark = pytest.mark.integration

T0 = datetime(2022, 3, 1, 1, 2, 3, 456789, tzinfo=UTC)


def _table(md: MetaData, name: str) -> Table:
    return Table(
        name,
        md,
        Column("complaint_id", String(40), primary_key=True),
        Column("version", Integer, nullable=False),
        Column("at", DateTime(timezone=True), nullable=True),
        Column("chain", JSON, nullable=False),
        Column("note", String(200), nullable=True),
    )


def _rows(n: int) -> list[dict[str, Any]]:
    return [
        {
            "complaint_id": f"c-{i:04d}",
            "version": i,
            "at": None if i % 7 == 0 else T0 + timedelta(hours=i, microseconds=i),
            "chain": ["KEMENKES", f"UNIT-{i}"] if i % 3 else [],
            "note": None if i % 5 == 0 else f"50% of {i}'s text: %(x)s ?",  # DBAPI markers
        }
        for i in range(n)
    ]


def _contents(conn: Any, table: Table) -> list[tuple[Any, ...]]:
    return [tuple(r) for r in conn.execute(select(table).order_by(table.c.complaint_id))]


def test_execute_many_writes_what_sqlalchemy_writes(database_url: str) -> None:
    engine = projection_engine_at(database_url)
    md = MetaData()
    ours, theirs = _table(md, "bulk_ours"), _table(md, "bulk_theirs")
    md.create_all(engine)
    rows = _rows(50)
    changes = [
        {"b_complaint_id": f"c-{i:04d}", "version": 1000 + i, "at": T0, "chain": ["X"]}
        for i in range(0, 50, 4)
    ]
    gone = [{"b_complaint_id": f"c-{i:04d}"} for i in range(1, 50, 9)]
    statements_seen: list[str] = []
    event.listen(engine, "before_cursor_execute", lambda *a: statements_seen.append(a[2]))
    try:
        with engine.begin() as conn:
            for table, run in ((ours, "bulk"), (theirs, "sqlalchemy")):
                by_id = table.c.complaint_id == bindparam("b_complaint_id")
                statements = [
                    (insert(table), rows),
                    (update(table).where(by_id), changes),
                    (delete(table).where(by_id), gone),
                ]
                for statement, params in statements:
                    if run == "bulk":
                        assert execute_many(conn, statement, params) == len(params)
                    else:
                        conn.execute(statement, params)
            written = _contents(conn, ours)
            assert written == _contents(conn, theirs)
        assert len(written) == 50 - len(gone)
        # On PostgreSQL the plain INSERT went through COPY, beside SQLAlchemy's cursor.
        inserts_into_ours = [s for s in statements_seen if s.startswith("INSERT INTO bulk_ours")]
        assert len(inserts_into_ours) == (0 if engine.dialect.name == "postgresql" else 1)
        first, second = written[0], written[1]
        assert first[:2] == ("c-0000", 1000) and first[3] == ["X"]  # updated
        assert second[:2] == ("c-0002", 2) and second[4] == "50% of 2's text: %(x)s ?"
    finally:
        engine.dispose()


def test_a_row_without_a_bound_column_is_refused_by_name(tmp_path: Any) -> None:
    engine = projection_engine_at(f"sqlite:///{tmp_path}/b.sqlite3")
    md = MetaData()
    table = _table(md, "bulk_missing")
    md.create_all(engine)
    try:
        with engine.begin() as conn:
            by_id = table.c.complaint_id == bindparam("b_complaint_id")
            with pytest.raises(KeyError, match="b_complaint_id"):
                execute_many(conn, update(table).where(by_id), [{"version": 1}])
            assert execute_many(conn, insert(table), []) == 0
    finally:
        engine.dispose()


def test_a_plan_does_not_keep_its_statement_alive(tmp_path: Any) -> None:
    """Every new model instance brings new statements (a rebuild, each test): the plans
    cached for them must go when they go."""
    engine = projection_engine_at(f"sqlite:///{tmp_path}/b.sqlite3")
    md = MetaData()
    table = _table(md, "bulk_weak")
    md.create_all(engine)
    try:
        statement = insert(table)
        alive = weakref.ref(statement)
        with engine.begin() as conn:
            assert execute_many(conn, statement, _rows(3)) == 3
        del statement
        gc.collect()
        assert alive() is None
    finally:
        engine.dispose()
