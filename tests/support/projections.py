"""Helpers for projection tests: the read models' service, table snapshots, a small read
model that can be poisoned, and settings pointing the read models at a database of their own."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lapor_es import bootstrap
from lapor_es.config import Settings
from lapor_es.projections.core import ReadModel
from lapor_es.projections.events import ProjectedEvent
from lapor_es.readmodels.service import ReadModelService

POISON = "RACUN"  # a title that makes EventCounts raise while `poisoned` is set

_engines: list[Engine] = []  # built by read_model_service, disposed after each test


def read_model_service(settings: Settings) -> ReadModelService:
    """The read models' service on `settings.read_model_url`, as the CLI builds it (on
    bootstrap.projection_engine). Its engine (`.engine`, for queries) is disposed after the
    test by tests/conftest.py, so PostgreSQL connections never pile up across tests."""
    engine = bootstrap.projection_engine(settings)
    _engines.append(engine)
    return ReadModelService(engine, settings)


def dispose_engines() -> None:
    """Dispose every engine `read_model_service` built (tests/conftest.py, after each test)."""
    while _engines:
        _engines.pop().dispose()


class EventCounts(ReadModel):
    """Events per type per complaint, and the last version seen. Raises on a version out
    of order (so retries must replay in order) and, while poisoned, on a POISON title."""

    name: ClassVar[str] = "event_counts"

    def __init__(self, *, prefix: str = "", table_metadata: MetaData | None = None) -> None:
        self.poisoned = True
        super().__init__(prefix=prefix, table_metadata=table_metadata or MetaData())

    @classmethod
    def table_names(cls) -> Sequence[str]:
        return ("event_counts", "event_versions")

    def define(self, md: MetaData, prefix: str) -> None:
        Table(
            prefix + "event_counts",
            md,
            Column("complaint_id", String(36), primary_key=True),
            Column("type", String(40), primary_key=True),
            Column("count", Integer, nullable=False),
            keep_existing=True,
        )
        Table(
            prefix + "event_versions",
            md,
            Column("complaint_id", String(36), primary_key=True),
            Column("version", Integer, nullable=False, index=True),
            keep_existing=True,
        )

    def apply(self, conn: Connection, event: ProjectedEvent) -> None:
        if self.poisoned and getattr(event.payload, "title", None) == POISON:
            raise ValueError("poisoned title")
        seen = self.table("event_versions")
        last = conn.execute(
            select(seen.c.version).where(seen.c.complaint_id == event.complaint_id)
        ).scalar()
        if (last or 0) + 1 != event.version:
            raise AssertionError(f"version {event.version} after {last}")
        insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        conn.execute(
            insert(seen)
            .values(complaint_id=event.complaint_id, version=event.version)
            .on_conflict_do_update(
                index_elements=[seen.c.complaint_id], set_={"version": event.version}
            )
        )
        counts = self.table("event_counts")
        key = and_(counts.c.complaint_id == event.complaint_id, counts.c.type == event.type)
        if conn.execute(update(counts).where(key).values(count=counts.c.count + 1)).rowcount == 0:
            conn.execute(
                counts.insert().values(complaint_id=event.complaint_id, type=event.type, count=1)
            )


def snapshot(engine: Engine, models: Sequence[ReadModel]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of `models`, sorted, keyed by the table's live name."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with engine.connect() as conn:
        for model in models:
            for table in model.own_tables:
                rows = [tuple(r) for r in conn.execute(select(table))]
                out[table.name.removeprefix(model.prefix)] = sorted(rows, key=repr)
    return out


def live_snapshot(url: str, settings: Settings) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every registered read model in the database at `url`."""
    read_models = read_model_service(with_read_models_at(settings, url))
    return snapshot(read_models.engine, read_models.models())


def with_read_models_at(settings: Settings, url: str, **changes: Any) -> Settings:
    return settings.model_copy(update={"projection_database_url": url, **changes})
