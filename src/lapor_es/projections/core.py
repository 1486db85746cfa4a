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
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from functools import cache
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
    RowMapping,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
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


# Ids per IN list: well under SQLite's and PostgreSQL's limits on bound parameters.
IN_CHUNK = 500
# Set-based tries of a batch whose claims another projector took first, before the slow path.
SET_BASED_ATTEMPTS = 3

_GAP_PREFIX = "version "


def _gap_error(applied: int) -> str:
    """Why an event is parked behind a missing or parked one (`applied`: the complaint's
    last applied version)."""
    return (
        f"{_GAP_PREFIX}{applied + 1} of this complaint is missing "
        "or parked; parked behind it to keep the complaint's order"
    )


def _dead_letter(name: str, ev: ProjectedEvent, error: str, at: datetime) -> dict[str, Any]:
    """The projection_dead_letters row that parks `ev` for projection `name`."""
    c: Coordinates = ev.coordinates
    return {
        "projection": name,
        "complaint_id": ev.complaint_id,
        "version": ev.version,
        "event_type": ev.type,
        "source": c.source,
        "partition": c.partition,
        "offset": c.offset,
        "position": ev.position,
        "payload": json.dumps(ev.raw, sort_keys=True),
        "error": error,
        "parked_at": at,
    }


def by_complaint(events: Sequence[ProjectedEvent]) -> dict[str, list[ProjectedEvent]]:
    """The batch's events per complaint, each complaint's in log order."""
    out: dict[str, list[ProjectedEvent]] = {}
    for ev in events:
        out.setdefault(ev.complaint_id, []).append(ev)
    return out


@cache
def _rows_in(table: Table) -> Executable:
    return select(table).where(table.c.complaint_id.in_(bindparam("ids", expanding=True)))


def rows_of(conn: Connection, table: Table, complaint_ids: Iterable[str]) -> list[RowMapping]:
    """Every row of `table` that belongs to one of `complaint_ids` (its `complaint_id`
    column): one SELECT per IN_CHUNK complaints, so a batch reads a table once."""
    ids = sorted(set(complaint_ids))
    out: list[RowMapping] = []
    for i in range(0, len(ids), IN_CHUNK):
        out.extend(conn.execute(_rows_in(table), {"ids": ids[i : i + IN_CHUNK]}).mappings())
    return out


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

    def apply_batch(self, conn: Connection, events: Sequence[ProjectedEvent]) -> list[Failure]:
        """Apply a batch of claimed events: in log order, and for each complaint the next
        versions after what this model has applied, without holes.

        A set-based model reads the rows of the batch's complaints once, folds the events
        in memory and writes the result with bulk statements. When an event of complaint C
        cannot be applied, it writes C as of the event before, and returns a `Failure` for
        C: the engine parks that event and C's later ones, and commits the rest.

        This default is the slow path: `apply` one event after another. An exception from
        it makes the engine roll the batch back and redo it event by event, with a
        savepoint per event (the only way to park one event whose `apply` wrote half)."""
        for ev in events:
            self.apply(conn, ev)
        return []

    def views(self) -> list[tuple[str, str]]:
        """(name, SELECT ...) pairs of SQL views over the live tables, for analysts."""
        return []


@dataclass(frozen=True)
class Failure:
    """A complaint whose event `version` a read model's `apply_batch` could not apply."""

    complaint_id: str
    version: int
    exception: Exception

    @property
    def error(self) -> str:
        """The error as the dead letter records it (the slow path's wording)."""
        return f"{type(self.exception).__name__}: {self.exception}"


def failure(event: ProjectedEvent, exc: Exception) -> Failure:
    return Failure(event.complaint_id, event.version, exc)


class Claim(Enum):
    APPLY = "apply"
    DUPLICATE = "duplicate"
    GAP = "gap"


class _TakenElsewhere(Exception):
    """Another projector claimed this version first."""


class _SlowPath(Exception):
    """The fast path met something it does not handle (a failing event, a racing claim):
    roll the batch back and apply it event by event."""


class _ClaimTaken(_SlowPath):
    """Another projector claimed some of the batch's complaints after their versions were
    read (a rebalance): read again, those events are now duplicates."""


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

    def __init__(
        self, engine: Engine, models: Sequence[ReadModel], *, set_based: bool = True
    ) -> None:
        """`set_based=False`: every batch takes the slow path, event by event (what the
        set-based path is compared with, in tests and benchmarks)."""
        self.engine = engine
        self.models = list(models)
        self.set_based = set_based
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
        self._select_versions: Executable = select(
            versions.c.complaint_id, versions.c.version
        ).where(
            versions.c.projection == bindparam("p"),
            versions.c.complaint_id.in_(bindparam("ids", expanding=True)),
        )
        own_row = and_(
            versions.c.projection == bindparam("p"), versions.c.complaint_id == bindparam("c")
        )
        self._select_version: Executable = select(versions.c.version).where(own_row)
        self._set_claim: Executable = update(versions).where(own_row).values(version=bindparam("v"))
        self._drop_claim: Executable = delete(versions).where(own_row)

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
        if not events:
            return BatchResult()
        if conn is not None:
            result = self._process_slow(conn, events)
        elif self.set_based:
            result = self._process_set_based(events)
        else:
            with self.engine.begin() as own:
                result = self._process_slow(own, events)
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

    def _process_set_based(self, events: Sequence[ProjectedEvent]) -> BatchResult:
        """The set-based path, tried again when another projector's claims got in the way
        (they then read as duplicates); the slow path for anything else, or when the race
        goes on (the slow path is many times slower: a savepoint and statements per event)."""
        for _ in range(SET_BASED_ATTEMPTS):
            result = BatchResult()
            try:
                with self.engine.begin() as own:
                    for model in self.models:
                        self._process_model_fast(own, model, events, result)
                return result
            except _ClaimTaken:
                log.info("projection.claims_taken_elsewhere", events=len(events))
                continue
            except _SlowPath:
                break
        with self.engine.begin() as own:
            return self._process_slow(own, events)

    def _process_slow(self, conn: Connection, events: Sequence[ProjectedEvent]) -> BatchResult:
        """The slow path: every model, event by event, in `conn`'s transaction."""
        result = BatchResult()
        for model in self.models:
            self._process_model(conn, model, events, result)
        return result

    def _process_model_fast(
        self,
        conn: Connection,
        model: ReadModel,
        events: Sequence[ProjectedEvent],
        result: BatchResult,
    ) -> None:
        """The set-based path: the three rules for a whole batch in a few statements.

        The versions of the batch's complaints are read once and the duplicates and gaps
        sorted out in memory; the claims are taken before the model writes anything, in
        complaint order (racing projectors then queue on the same first row instead of
        deadlocking), as conditional bulk writes; the model applies the claimed events with
        `apply_batch`; complaints it could not fold are parked and their claims moved back.
        A claim someone else moved, or an exception, sends the batch down the slow path,
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
        claimed: list[tuple[int, ProjectedEvent]] = []  # (index in fresh, event)
        parks: list[tuple[int, ProjectedEvent, str]] = []
        for i, ev in enumerate(fresh):
            key = (ev.coordinates.source, ev.coordinates.partition)
            last[key] = max(last.get(key, -1), ev.coordinates.offset)
            have = current.get(ev.complaint_id, 0)
            if ev.version <= have:
                result.duplicates += 1
            elif ev.version > have + 1:
                parks.append((i, ev, _gap_error(have)))
            else:
                current[ev.complaint_id] = ev.version
                claimed.append((i, ev))
        if not self._claim_all(conn, name, started, current):
            raise _ClaimTaken  # another projector got here first
        try:
            failures = model.apply_batch(conn, [ev for _, ev in claimed])
        except Exception as exc:
            raise _SlowPath from exc
        failed = {f.complaint_id: f for f in failures}
        for i, ev in claimed:
            f = failed.get(ev.complaint_id)
            if f is None or ev.version < f.version:
                result.applied += 1
            elif ev.version == f.version:
                parks.append((i, ev, f.error))
            else:
                parks.append((i, ev, _gap_error(f.version - 1)))
        if failed:
            self._unclaim(conn, name, {cid: f.version - 1 for cid, f in failed.items()})
        if parks:
            self._park_all(conn, name, sorted(parks, key=lambda park: park[0]), result)
        for (source, partition), offset in last.items():
            self._advance(conn, name, source, partition, offset)

    def _versions(self, conn: Connection, name: str, complaint_ids: set[str]) -> dict[str, int]:
        out: dict[str, int] = {}
        ids = sorted(complaint_ids)
        for i in range(0, len(ids), IN_CHUNK):
            rows = conn.execute(self._select_versions, {"p": name, "ids": ids[i : i + IN_CHUNK]})
            out.update({cid: v for cid, v in rows})
        return out

    def _claim_all(
        self, conn: Connection, name: str, started: dict[str, int], current: dict[str, int]
    ) -> bool:
        """Move every complaint's applied version from `started` to `current`, only where no
        one else moved it meanwhile: conditional writes (row locks serialize racing
        projectors), one executemany for the complaints seen before and one for the new
        ones. False when any claim was taken elsewhere (the caller rolls back)."""
        moved = sorted(cid for cid, v in current.items() if v != started.get(cid, 0))
        first = [
            {"p": name, "c": cid, "after": current[cid]} for cid in moved if cid not in started
        ]
        following = [
            {"p": name, "c": cid, "before": started[cid], "after": current[cid]}
            for cid in moved
            if cid in started
        ]
        if following and conn.execute(self._next_claim, following).rowcount != len(following):
            return False
        return not first or conn.execute(self._first_claim, first).rowcount == len(first)

    def _unclaim(self, conn: Connection, name: str, applied: dict[str, int]) -> None:
        """Set back the claims of complaints the model could not fold to what it applied
        (no row at all when it applied none: as if never claimed). The rows are locked by
        this transaction's claims, so no condition is needed."""
        back = [{"p": name, "c": cid, "v": v} for cid, v in sorted(applied.items()) if v > 0]
        gone = [{"p": name, "c": cid} for cid, v in sorted(applied.items()) if v == 0]
        if back:
            conn.execute(self._set_claim, back)
        if gone:
            conn.execute(self._drop_claim, gone)

    def _park_all(
        self,
        conn: Connection,
        name: str,
        parks: Sequence[tuple[int, ProjectedEvent, str]],
        result: BatchResult,
    ) -> None:
        """Park events in log order (one executemany), as the slow path would one by one."""
        now = utcnow()
        conn.execute(
            insert(dead_letters),
            [_dead_letter(name, ev, error, now) for _, ev, error in parks],
        )
        for _, ev, error in parks:
            result.parked += 1
            is_gap = error.startswith(_GAP_PREFIX)
            result.parked_events.append(
                (name, ev.complaint_id, ev.version, "gap" if is_gap else error)
            )

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
            self._park(conn, name, ev, _gap_error(current))
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
        params = {"p": name, "c": ev.complaint_id}
        current = conn.execute(self._select_version, params).scalar() or 0
        if ev.version <= current:
            return Claim.DUPLICATE, current
        if ev.version > current + 1:
            return Claim.GAP, current
        return Claim.APPLY, current

    def _claim(self, conn: Connection, name: str, ev: ProjectedEvent, current: int) -> None:
        stmt = self._first_claim if current == 0 else self._next_claim
        params = {"p": name, "c": ev.complaint_id, "before": current, "after": ev.version}
        if conn.execute(stmt, params).rowcount != 1:
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
        conn.execute(insert(dead_letters).values(_dead_letter(name, ev, error, utcnow())))

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
