"""The projection machinery shared by every read model.

Exactly-once effect, in both modes, rests on three rules:

1. A batch of events is applied to a read model in ONE SQL transaction that also moves
   the model's tracking row(s) (source, partition, offset). A crash before commit loses
   the whole batch and its tracking; it is read again.
2. Every (complaint, version) is claimed before it is applied, by a conditional write on
   `projection_versions` (version = n-1 -> n). A duplicate delivery, even one racing in
   from another projector process after a rebalance, finds the claim taken and is skipped.
3. An event that cannot be applied is parked in `projection_dead_letters` with its error.
   Its complaint's later events then find a version gap and are parked behind it, in
   order, so a complaint is never shown half-updated; `dlq retry` replays them.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from typing import Any, ClassVar

import structlog
from sqlalchemy import (
    BigInteger,
    Column,
    Connection,
    DateTime,
    Engine,
    Executable,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    and_,
    bindparam,
    event,
    insert,
    select,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lapor_es.projections.events import Coordinates, ProjectedEvent

log = structlog.get_logger("lapor_es.projections")

# All live projection tables, the framework's and every read model's: what Alembic manages.
metadata = MetaData()

tracking = Table(
    "projection_tracking",
    metadata,
    Column("projection", String(80), primary_key=True),
    Column("source", String(255), primary_key=True, comment="'store' or a Kafka topic"),
    Column("partition", Integer, primary_key=True),
    Column("offset", BigInteger, nullable=False, comment="last offset applied"),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
versions = Table(
    "projection_versions",
    metadata,
    Column("projection", String(80), primary_key=True),
    Column("complaint_id", String(36), primary_key=True),
    Column("version", Integer, nullable=False, comment="last version applied"),
)
dead_letters = Table(
    "projection_dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("projection", String(80), nullable=False, index=True),
    Column("complaint_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_type", String(40), nullable=False),
    Column("source", String(255), nullable=False),
    Column("partition", Integer, nullable=False),
    Column("offset", BigInteger, nullable=False),
    Column("position", BigInteger, nullable=False),
    Column("payload", Text, nullable=False),
    Column("error", Text, nullable=False),
    Column("parked_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
)


def enable_savepoints(engine: Engine) -> Engine:
    """What the projector requires of an engine: transactions that support SAVEPOINT (the
    projector parks a failing event inside its batch), on SQLite too. pysqlite opens and
    commits transactions on its own and breaks SAVEPOINT; these listeners take that over,
    as SQLAlchemy's "Serializable isolation / Savepoints / Transactional DDL" recipe for
    pysqlite does, and make a locked database wait instead of failing at once. Call it on
    a fresh engine (bootstrap.projection_engine_at does); returns the same engine."""
    if engine.dialect.name == "sqlite":

        @event.listens_for(engine, "connect")
        def _no_implicit_transactions(dbapi_connection: Any, _: Any) -> None:
            dbapi_connection.isolation_level = None
            dbapi_connection.execute("PRAGMA busy_timeout = 30000")

        @event.listens_for(engine, "begin")
        def _begin(conn: Connection) -> None:
            conn.exec_driver_sql("BEGIN")

    return engine


class ReadModel(ABC):
    """One read model: its tables and how each event changes them.

    `apply` runs inside the batch transaction; it must only write this model's tables.
    Subclasses define their tables in `define(metadata, prefix)`; the live instance uses
    the shared `metadata` with no prefix, a rebuild uses its own metadata and a prefix.
    """

    name: ClassVar[str]

    def __init__(self, *, prefix: str = "", table_metadata: MetaData | None = None) -> None:
        self.prefix = prefix
        self.metadata = metadata if table_metadata is None else table_metadata
        self.define(self.metadata, prefix)

    @property
    def tracking_name(self) -> str:
        return f"{self.name}@{self.prefix.rstrip('_')}" if self.prefix else self.name

    def table(self, name: str) -> Table:
        return self.metadata.tables[self.prefix + name]

    @property
    def own_tables(self) -> list[Table]:
        return [
            t
            for n, t in self.metadata.tables.items()
            if n.startswith(self.prefix) and n.removeprefix(self.prefix) in self.table_names()
        ]

    @classmethod
    @abstractmethod
    def table_names(cls) -> Sequence[str]: ...

    @abstractmethod
    def define(self, md: MetaData, prefix: str) -> None:
        """Create this model's Table objects in `md` (use keep_existing=True)."""

    @abstractmethod
    def apply(self, conn: Connection, event: ProjectedEvent) -> None: ...

    def views(self) -> list[tuple[str, str]]:
        """(name, SELECT ...) pairs of SQL views over the live tables, for analysts."""
        return []


class Claim(Enum):
    APPLY = "apply"
    DUPLICATE = "duplicate"
    GAP = "gap"


class _TakenElsewhere(Exception):
    """Another projector claimed this version first."""


class _SlowPath(Exception):
    """The fast path met something it does not handle (a failing event, a racing claim):
    roll the batch back and apply it event by event."""


@dataclass
class BatchResult:
    applied: int = 0
    duplicates: int = 0
    parked: int = 0
    skipped: int = 0  # already behind this model's tracking position
    parked_events: list[tuple[str, str, int, str]] = field(default_factory=list)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Projector:
    """Applies batches of events to read models with the three rules above."""

    def __init__(self, engine: Engine, models: Sequence[ReadModel]) -> None:
        self.engine = engine
        self.models = list(models)
        self._insert = pg_insert if engine.dialect.name == "postgresql" else sqlite_insert
        # Built once: the claims run for every complaint of every batch. preserve_rowcount:
        # SQLAlchemy 2.0 reports -1 for an INSERT's rowcount on psycopg unless asked, which
        # would make every first claim look taken.
        self._first_claim: Executable = (
            self._insert(versions)
            .values(
                projection=bindparam("p"), complaint_id=bindparam("c"), version=bindparam("after")
            )
            .on_conflict_do_nothing()
            .execution_options(preserve_rowcount=True)
        )
        self._next_claim: Executable = (
            update(versions)
            .where(
                and_(
                    versions.c.projection == bindparam("p"),
                    versions.c.complaint_id == bindparam("c"),
                    versions.c.version == bindparam("before"),
                )
            )
            .values(version=bindparam("after"))
            .execution_options(preserve_rowcount=True)
        )

    # ------------------------------------------------------------------ positions
    def positions(self, source: str) -> dict[str, dict[int, int]]:
        """Tracked offsets: model tracking name -> partition -> last applied offset."""
        names = [m.tracking_name for m in self.models]
        out: dict[str, dict[int, int]] = {n: {} for n in names}
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(tracking.c.projection, tracking.c.partition, tracking.c.offset).where(
                    and_(tracking.c.projection.in_(names), tracking.c.source == source)
                )
            )
            for name, partition, offset in rows:
                out[name][partition] = offset
        return out

    def resume_offset(self, source: str, partition: int) -> int | None:
        """The lowest offset any model has applied on this partition (None: none yet)."""
        positions = self.positions(source)
        tracked = [p.get(partition) for p in positions.values()]
        if any(t is None for t in tracked):
            return None
        return min(t for t in tracked if t is not None)

    # ------------------------------------------------------------------ batches
    def process(
        self, events: Sequence[ProjectedEvent], *, conn: Connection | None = None
    ) -> BatchResult:
        """Apply a batch in one transaction; or inside the caller's `conn` transaction (a
        rebuild's swap applies its last events in the same transaction as the swap)."""
        result = BatchResult()
        if not events:
            return result
        if conn is None:
            try:
                with self.engine.begin() as own:
                    for model in self.models:
                        self._process_model_fast(own, model, events, result)
            except _SlowPath:
                result = BatchResult()
                with self.engine.begin() as own:
                    for model in self.models:
                        self._process_model(own, model, events, result)
        else:
            for model in self.models:
                self._process_model(conn, model, events, result)
        if result.parked:
            for name, cid, version, error in result.parked_events:
                log.warning(
                    "projection.parked",
                    projection=name,
                    complaint_id=cid,
                    version=version,
                    error=error,
                )
        return result

    def _process_model_fast(
        self,
        conn: Connection,
        model: ReadModel,
        events: Sequence[ProjectedEvent],
        result: BatchResult,
    ) -> None:
        """The common case in a few statements: versions read once for the batch, no
        savepoints, one conditional claim per complaint at the end. Anything unusual (an
        event that fails, a claim someone else moved) sends the batch down the slow path,
        which applies the same rules event by event."""
        name = model.tracking_name
        tracked = self._tracked(conn, name, events)
        fresh = [
            ev
            for ev in events
            if ev.coordinates.offset
            > tracked.get((ev.coordinates.source, ev.coordinates.partition), -1)
        ]
        result.skipped += len(events) - len(fresh)
        started = self._versions(conn, name, {ev.complaint_id for ev in fresh})
        current = dict(started)
        last: dict[tuple[str, int], int] = {}
        for ev in fresh:
            key = (ev.coordinates.source, ev.coordinates.partition)
            last[key] = max(last.get(key, -1), ev.coordinates.offset)
            have = current.get(ev.complaint_id, 0)
            if ev.version <= have:
                result.duplicates += 1
                continue
            if ev.version > have + 1:
                raise _SlowPath  # a gap: parking is the slow path's job
            try:
                model.apply(conn, ev)
            except Exception as exc:
                raise _SlowPath from exc
            current[ev.complaint_id] = ev.version
            result.applied += 1
        for complaint_id, version in current.items():
            before = started.get(complaint_id, 0)
            if version != before and not self._claim_range(
                conn, name, complaint_id, before, version
            ):
                raise _SlowPath  # another projector got here first
        for (source, partition), offset in last.items():
            self._advance(conn, name, source, partition, offset)

    def _versions(self, conn: Connection, name: str, complaint_ids: set[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        ids = sorted(complaint_ids)
        for i in range(0, len(ids), 500):
            rows = conn.execute(
                select(versions.c.complaint_id, versions.c.version).where(
                    and_(
                        versions.c.projection == name, versions.c.complaint_id.in_(ids[i : i + 500])
                    )
                )
            )
            out.update({cid: v for cid, v in rows})
        return out

    def _claim_range(
        self, conn: Connection, name: str, complaint_id: str, before: int, after: int
    ) -> bool:
        """Move a complaint's applied version from `before` to `after`, only if no one else
        moved it meanwhile (a conditional write: row locks serialize racing projectors)."""
        stmt = self._first_claim if before == 0 else self._next_claim
        params = {"p": name, "c": complaint_id, "before": before, "after": after}
        return bool(conn.execute(stmt, params).rowcount == 1)

    def _process_model(
        self,
        conn: Connection,
        model: ReadModel,
        events: Sequence[ProjectedEvent],
        result: BatchResult,
    ) -> None:
        name = model.tracking_name
        tracked = self._tracked(conn, name, events)
        last: dict[tuple[str, int], int] = {}
        for ev in events:
            key = (ev.coordinates.source, ev.coordinates.partition)
            if ev.coordinates.offset <= tracked.get(key, -1):
                result.skipped += 1
                continue
            self._apply_one(conn, model, ev, result)
            last[key] = max(last.get(key, -1), ev.coordinates.offset)
        for (source, partition), offset in last.items():
            self._advance(conn, name, source, partition, offset)

    def _apply_one(
        self, conn: Connection, model: ReadModel, ev: ProjectedEvent, result: BatchResult
    ) -> None:
        name = model.tracking_name
        claim, current = self._check(conn, name, ev)
        if claim is Claim.DUPLICATE:
            result.duplicates += 1
            return
        if claim is Claim.GAP:
            self._park(
                conn,
                name,
                ev,
                f"version {current + 1} of this complaint is missing "
                "or parked; parked behind it to keep the complaint's order",
            )
            result.parked += 1
            result.parked_events.append((name, ev.complaint_id, ev.version, "gap"))
            return
        try:
            with conn.begin_nested():
                self._claim(conn, name, ev, current)
                model.apply(conn, ev)
        except _TakenElsewhere:
            result.duplicates += 1
            return
        except Exception as exc:  # a poison event: park it, keep going
            error = f"{type(exc).__name__}: {exc}"
            self._park(conn, name, ev, error)
            result.parked += 1
            result.parked_events.append((name, ev.complaint_id, ev.version, error))
            return
        result.applied += 1

    def _check(self, conn: Connection, name: str, ev: ProjectedEvent) -> tuple[Claim, int]:
        current = (
            conn.execute(
                select(versions.c.version).where(
                    and_(versions.c.projection == name, versions.c.complaint_id == ev.complaint_id)
                )
            ).scalar()
            or 0
        )
        if ev.version <= current:
            return Claim.DUPLICATE, current
        if ev.version > current + 1:
            return Claim.GAP, current
        return Claim.APPLY, current

    def _claim(self, conn: Connection, name: str, ev: ProjectedEvent, current: int) -> None:
        stmt: Executable
        if current == 0:
            stmt = (
                self._insert(versions)
                .values(projection=name, complaint_id=ev.complaint_id, version=ev.version)
                .on_conflict_do_nothing()
            )
        else:
            stmt = (
                update(versions)
                .where(
                    and_(
                        versions.c.projection == name,
                        versions.c.complaint_id == ev.complaint_id,
                        versions.c.version == current,
                    )
                )
                .values(version=ev.version)
            )
        # preserve_rowcount: SQLAlchemy 2.0 reports -1 for an INSERT's rowcount on
        # psycopg unless asked, which would make every first claim look taken.
        if conn.execute(stmt.execution_options(preserve_rowcount=True)).rowcount != 1:
            raise _TakenElsewhere

    def _tracked(
        self, conn: Connection, name: str, events: Sequence[ProjectedEvent]
    ) -> dict[tuple[str, int], int]:
        sources = {ev.coordinates.source for ev in events}
        rows = conn.execute(
            select(tracking.c.source, tracking.c.partition, tracking.c.offset).where(
                and_(tracking.c.projection == name, tracking.c.source.in_(sources))
            )
        )
        return {(s, p): o for s, p, o in rows}

    def _advance(
        self, conn: Connection, name: str, source: str, partition: int, offset: int
    ) -> None:
        stmt = self._insert(tracking).values(
            projection=name,
            source=source,
            partition=partition,
            offset=offset,
            updated_at=utcnow(),
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=[tracking.c.projection, tracking.c.source, tracking.c.partition],
                set_={"offset": offset, "updated_at": utcnow()},
                where=tracking.c.offset < offset,
            )
        )

    def _park(self, conn: Connection, name: str, ev: ProjectedEvent, error: str) -> None:
        c: Coordinates = ev.coordinates
        conn.execute(
            insert(dead_letters).values(
                projection=name,
                complaint_id=ev.complaint_id,
                version=ev.version,
                event_type=ev.type,
                source=c.source,
                partition=c.partition,
                offset=c.offset,
                position=ev.position,
                payload=json.dumps(ev.raw, sort_keys=True),
                error=error,
                parked_at=utcnow(),
            )
        )

    # ------------------------------------------------------------------ dead letters
    def park_undecodable(
        self,
        source: str,
        partition: int,
        offset: int,
        key: bytes | None,
        value: bytes | None,
        exc: Exception,
        *,
        conn: Connection | None = None,
    ) -> None:
        """A record that is not a valid event at all: parked for every model, and tracked
        past, so it never blocks a partition. Its complaint's later events park behind it
        (they find a version gap)."""
        complaint_id = (key or b"?").decode("utf-8", "replace")[:36]
        error = f"undecodable record: {type(exc).__name__}: {exc}"
        with self.engine.begin() if conn is None else nullcontext(conn) as tx:
            for model in self.models:
                tx.execute(
                    insert(dead_letters).values(
                        projection=model.tracking_name,
                        complaint_id=complaint_id,
                        version=0,
                        event_type="?",
                        source=source,
                        partition=partition,
                        offset=offset,
                        position=0,
                        payload=(value or b"").decode("utf-8", "replace"),
                        error=error,
                        parked_at=utcnow(),
                    )
                )
                self._advance(tx, model.tracking_name, source, partition, offset)
        log.warning(
            "projection.undecodable", source=source, partition=partition, offset=offset, error=error
        )

    def retry_parked(self) -> BatchResult:
        """Re-apply parked events, oldest first per complaint; resolved ones are marked."""
        from lapor_es.contract.payloads import PAYLOAD_ADAPTER

        result = BatchResult()
        with self.engine.begin() as conn:
            for model in self.models:
                rows = (
                    conn.execute(
                        select(dead_letters)
                        .where(
                            and_(
                                dead_letters.c.projection == model.tracking_name,
                                dead_letters.c.resolved_at.is_(None),
                            )
                        )
                        .order_by(
                            dead_letters.c.complaint_id, dead_letters.c.version, dead_letters.c.id
                        )
                    )
                    .mappings()
                    .all()
                )
                for row in rows:
                    try:
                        raw = json.loads(row["payload"])
                        payload = PAYLOAD_ADAPTER.validate_python(raw)
                    except ValueError:
                        # An off-contract record stays parked: retrying cannot make it an
                        # event, and failing here would roll back every other retry.
                        result.skipped += 1
                        continue
                    ev = ProjectedEvent(
                        payload=payload,
                        raw=raw,
                        coordinates=Coordinates(row["source"], row["partition"], row["offset"]),
                        position=row["position"],
                    )
                    before = result.applied + result.duplicates
                    self._apply_one(conn, model, ev, result)
                    if result.applied + result.duplicates > before:
                        conn.execute(
                            update(dead_letters)
                            .where(dead_letters.c.id == row["id"])
                            .values(resolved_at=utcnow())
                        )
                    else:
                        # Parked again by _apply_one: keep only the newest row for it.
                        conn.execute(
                            update(dead_letters)
                            .where(dead_letters.c.id == row["id"])
                            .values(
                                resolved_at=utcnow(),
                                error=row["error"] + " (retried; parked again)",
                            )
                        )
        return result


def create_all(engine: Engine, models: Sequence[ReadModel]) -> None:
    """Create tables (idempotent) and (re)create the models' views.

    Without migrations: tests and throwaway databases. Real deployments use
    `lapor_es.readmodels.migrations.prepare`, which migrates and then calls
    `create_views`."""
    metadata.create_all(engine)
    for model in models:
        if model.metadata is not metadata:
            model.metadata.create_all(engine)
    with engine.begin() as conn:
        create_views(conn, models)


def drop_views(conn: Connection, models: Sequence[ReadModel]) -> None:
    from sqlalchemy import text

    for model in models:
        for view, _ in model.views():
            conn.execute(text(f"DROP VIEW IF EXISTS {view}"))


def create_views(conn: Connection, models: Sequence[ReadModel]) -> None:
    """(Re)create the models' views: views are derived, so they are never migrated."""
    from sqlalchemy import text

    drop_views(conn, models)
    for model in models:
        for view, query in model.views():
            conn.execute(text(f"CREATE VIEW {view} AS {query}"))
