"""Executemany without SQLAlchemy's per-row parameter processing.

`conn.execute(statement, rows)` builds and type-processes a parameter dict per row inside
SQLAlchemy (`construct_params` and the bind processors): about a fifth of the set-based
projector's time (docs/benchmarks.md). Here a statement is compiled once per dialect and key
set, its bind processors are looked up once, and each row becomes the DBAPI's own parameters
(a tuple for qmark/format dialects, a dict for pyformat) in one comprehension, handed to
`exec_driver_sql`, which is still SQLAlchemy's connection, transaction and events.

On PostgreSQL with psycopg a plain INSERT goes through COPY instead, in the same
transaction: psycopg's executemany sends one statement per row (pipelined), about 70 us a
row; COPY streams the rows (most of the projector's rows are inserts: docs/benchmarks.md).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from operator import itemgetter
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import Connection, Table
from sqlalchemy.engine.interfaces import Compiled, Dialect
from sqlalchemy.sql.dml import UpdateBase

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Plan:
    sql: str
    names: tuple[str, ...]  # the rows' keys, in the order the DBAPI wants them
    processors: tuple[Processor | None, ...]
    dbapi_names: tuple[str, ...] | None  # pyformat: the (escaped) names; None: positional
    copy: bool = False  # `sql` is a COPY ... FROM STDIN taking the rows as tuples

    def parameters(self, rows: Sequence[Mapping[str, Any]]) -> list[Any]:
        get = itemgetter(*self.names)
        if len(self.names) == 1:
            values: list[tuple[Any, ...]] = [(get(r),) for r in rows]
        else:
            values = [get(r) for r in rows]
        processed = [(i, p) for i, p in enumerate(self.processors) if p is not None]
        if processed:
            values = [_processed(row, processed) for row in values]
        if self.dbapi_names is None:
            return values
        names = self.dbapi_names
        return [dict(zip(names, row, strict=True)) for row in values]


def _processed(row: tuple[Any, ...], processed: list[tuple[int, Processor]]) -> tuple[Any, ...]:
    out = list(row)
    for i, process in processed:
        out[i] = process(out[i])
    return tuple(out)


_PROBE = datetime(2022, 3, 1, 1, 2, 3, 4, tzinfo=timezone(timedelta(hours=7)))


def _faster(process: Processor | None) -> Processor | None:
    """SQLite's DateTime processor formats each datetime through a %-dict in Python; the
    same text comes from `isoformat` in C (cut before any UTC offset, which SQLAlchemy
    drops too). Used only where it gives the processor's own text for a probe."""
    if process is None:
        return None
    try:
        same = process(_PROBE) == _PROBE.isoformat(" ", "microseconds")[:26]
    except Exception:  # a processor that does not take datetimes at all
        return process
    if not same:
        return process

    def isoformat(value: Any) -> Any:
        if type(value) is datetime:
            return value.isoformat(" ", "microseconds")[:26]
        return process(value)

    return isoformat


# Per statement object, weakly: models build their statements once, but every new model
# instance (a rebuild, a test) brings new ones, and a plan must not keep them alive.
_PLANS: WeakKeyDictionary[UpdateBase, dict[tuple[str, frozenset[str]], _Plan]] = WeakKeyDictionary()


def _plan(dialect: Dialect, statement: UpdateBase, keys: frozenset[str]) -> _Plan:
    plans = _PLANS.setdefault(statement, {})
    cache_key = (dialect.name, keys)
    plan = plans.get(cache_key)
    if plan is not None:
        return plan
    plan = _new_plan(dialect, statement, keys)
    plans[cache_key] = plan
    return plan


def _new_plan(dialect: Dialect, statement: UpdateBase, keys: frozenset[str]) -> _Plan:
    compiled = statement.compile(dialect=dialect, column_keys=sorted(keys))
    if _copies(dialect) and _PLAIN_INSERT.match(compiled.string):
        return _copy_plan(dialect, statement, keys, compiled)
    names = tuple(compiled.positiontup or ()) if compiled.positional else tuple(compiled.binds)
    missing = [n for n in names if n not in keys]
    if missing:
        raise KeyError(f"no value for bind parameter(s) {missing} of {compiled.string!r}")
    processors = tuple(
        _faster(compiled.binds[n].type.dialect_impl(dialect).bind_processor(dialect)) for n in names
    )
    escaped: Mapping[str, str] = compiled.escaped_bind_names or {}
    dbapi_names = None if compiled.positional else tuple(escaped.get(n, n) for n in names)
    return _Plan(compiled.string, names, processors, dbapi_names)


# Exactly INSERT INTO table (columns) VALUES (parameters): no RETURNING, no ON CONFLICT.
_PLAIN_INSERT = re.compile(
    r"INSERT INTO [^(]+ \([^)]*\) VALUES \((?:[^)]|\)s)*\)\Z"  # pyformat: %(name)s
)


def _copies(dialect: Dialect) -> bool:
    return dialect.name == "postgresql" and dialect.driver == "psycopg"


def _copy_plan(
    dialect: Dialect, statement: UpdateBase, keys: frozenset[str], compiled: Compiled
) -> _Plan:
    table = statement.table
    assert isinstance(table, Table)
    columns = [c for c in table.columns if c.key in keys]
    if {c.key for c in columns} != keys:
        unknown = sorted(keys - {c.key for c in columns})
        raise KeyError(f"not columns of {table.name}: {unknown} ({compiled.string!r})")
    quote = dialect.identifier_preparer
    sql = (
        f"COPY {quote.format_table(table)} ({', '.join(quote.quote(c.name) for c in columns)})"
        " FROM STDIN"
    )
    processors = tuple(
        _faster(c.type.dialect_impl(dialect).bind_processor(dialect)) for c in columns
    )
    return _Plan(sql, tuple(c.key for c in columns), processors, None, copy=True)


def execute_many(conn: Connection, statement: UpdateBase, rows: Sequence[Mapping[str, Any]]) -> int:
    """Run `statement` once per row (every row has the same keys); the rows it affected."""
    if not rows:
        return 0
    plan = _plan(conn.dialect, statement, frozenset(rows[0]))
    if plan.copy:
        return _copy(conn, plan, rows)
    return conn.exec_driver_sql(plan.sql, plan.parameters(rows)).rowcount


def _copy(conn: Connection, plan: _Plan, rows: Sequence[Mapping[str, Any]]) -> int:
    # The psycopg connection under SQLAlchemy's: same session, same open transaction.
    driver: Any = conn.connection.dbapi_connection
    with driver.cursor() as cursor, cursor.copy(plan.sql) as copy:
        for row in plan.parameters(rows):
            copy.write_row(row)
    return len(rows)
