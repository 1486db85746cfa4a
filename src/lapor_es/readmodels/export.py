"""`lapor-es export`: the analysts' tables and views of the complaints read model as files.

One file per table or view, named after it (complaint_facts.csv, v_daily_counts.parquet,
...). CSV is written by the csv module (RFC 4180 quoting, empty cell for NULL, times in
ISO 8601); Parquet by pyarrow, with column types inferred from the values.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select, text

from lapor_es.readmodels.complaints import ComplaintsModel


class ExportFormat(StrEnum):
    CSV = "csv"
    PARQUET = "parquet"


def relations(model: ComplaintsModel) -> list[str]:
    """The names exported: the model's tables, then its views."""
    return [t.name for t in (model.facts, model.states, model.forwardings)] + [
        name for name, _ in model.views()
    ]


def _rows(conn: Connection, model: ComplaintsModel, name: str) -> tuple[list[str], list[Any]]:
    tables = {t.name: t for t in (model.facts, model.states, model.forwardings)}
    if name in tables:
        result = conn.execute(select(tables[name]))
    else:  # a view: its name comes from model.views(), never from the caller
        result = conn.execute(text(f"SELECT * FROM {name}"))
    return list(result.keys()), [tuple(row) for row in result]


def _plain(value: Any) -> Any:
    """Decimal (PostgreSQL's numeric ratios) as float, so both stores give the same types."""
    return float(value) if isinstance(value, Decimal) else value


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    return _plain(value)


def _write_csv(path: Path, columns: list[str], rows: list[Any]) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([_csv_cell(v) for v in row] for row in rows)


def _write_parquet(path: Path, columns: list[str], rows: list[Any]) -> None:
    # Loaded only when used: every CLI command imports this module.
    import pyarrow as pa  # type: ignore[import-untyped]
    import pyarrow.parquet as pq  # type: ignore[import-untyped]

    data = {c: [_plain(row[i]) for row in rows] for i, c in enumerate(columns)}
    pq.write_table(pa.table(data), path)


def export(
    conn: Connection, model: ComplaintsModel, out_dir: Path, fmt: ExportFormat
) -> Iterator[tuple[Path, int]]:
    """Write every table and view to `out_dir`; yields each file written and its row count."""
    out_dir.mkdir(parents=True, exist_ok=True)
    write = _write_csv if fmt is ExportFormat.CSV else _write_parquet
    for name in relations(model):
        columns, rows = _rows(conn, model, name)
        path = out_dir / f"{name}.{fmt.value}"
        write(path, columns, rows)
        yield path, len(rows)
