"""Rebuilding one read model from offset 0 beside the live one, then swapping it in.

1. The model is instantiated a second time over fresh `rb_`-prefixed tables (its own
   MetaData, tracking name `<name>@rb`) and fed every event from the beginning: from the
   store's notification log, or from the Kafka topic (all partitions, no consumer group,
   read_committed). The live tables keep serving, and a live projector keeps running.
2. The swap is ONE transaction. It first takes the write lock the live projector needs
   for its version claims (PostgreSQL: `projection_versions` in EXCLUSIVE mode; SQLite:
   the database write lock), so no live batch can commit in between. Inside it the
   rebuild reads what arrived since step 1, checks that it holds every version the live
   model has applied, drops the live tables, renames the `rb_` tables (and their indexes
   and constraints) to the live names, moves the tracking, version and dead-letter rows
   from `<name>@rb` to `<name>`, and recreates the views. Readers see the old tables until
   the commit and the new ones after it; a running projector continues from the moved
   tracking, its version claims skipping whatever the rebuild already applied.

This is engine code: it knows no read model by name. The caller (readmodels/service.py)
injects how to make the model (`ModelFactory`) and how to make a database ready
(`Prepare`: migrations, views), and the store's recorder and mapper for a StoreFeed.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog
from eventsourcing.persistence import ApplicationRecorder, Mapper
from kafka import TopicPartition
from sqlalchemy import Connection, Engine, MetaData, Table, and_, delete, select, text, update

from lapor_es.kafka import clients
from lapor_es.kafka.loop import (
    CALL_TIMEOUT_MS,
    ConsumerLoop,
    Liveness,
    UpTo,
    bounded_opener,
    decode_batch,
)
from lapor_es.kafka.relay import complaint_event_topics
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.projections.core import (
    Projector,
    ReadModel,
    create_views,
    dead_letters,
    drop_views,
    tracking,
    utcnow,
    versions,
)
from lapor_es.projections.events import STORE_SOURCE, from_notification
from lapor_es.projections.runners import decode_record

log = structlog.get_logger("lapor_es.projections.rebuild")

PREFIX = "rb_"

# (done, total) in the source's own unit: store positions or topic offsets.
Advance = Callable[[int, int, int], None]  # (events in this batch, done, total)
# (table prefix, the tables' own MetaData or None for the shared live one) -> the model.
ModelFactory = Callable[[str, MetaData | None], ReadModel]
# Make a read-model database ready for these models (migrate, create views).
Prepare = Callable[[Engine, Sequence[ReadModel]], None]


class RebuildBehindError(RuntimeError):
    """The live model has applied events the rebuild's source does not have yet (e.g. a
    rebuild from Kafka while the relay lags behind a live in-process projector)."""


@dataclass
class RebuildResult:
    name: str
    source: str
    events: int = 0
    applied: int = 0
    parked: int = 0
    final_events: int = 0  # read inside the swap transaction
    seconds: float = 0.0


class Feed:
    """Where a rebuild reads from. `run` applies everything after the rebuild's own
    tracking, in batches, through `projector` (inside `conn` when given)."""

    source: str

    def run(
        self,
        projector: Projector,
        result: RebuildResult,
        *,
        conn: Connection | None = None,
        advance: Advance | None = None,
    ) -> int:
        raise NotImplementedError


class StoreFeed(Feed):
    def __init__(self, recorder: ApplicationRecorder, mapper: Mapper[Any], batch_size: int) -> None:
        self.recorder = recorder
        self.mapper = mapper
        self.batch_size = batch_size
        self.source = STORE_SOURCE
        self.topics = complaint_event_topics()

    def run(
        self,
        projector: Projector,
        result: RebuildResult,
        *,
        conn: Connection | None = None,
        advance: Advance | None = None,
    ) -> int:
        name = projector.models[0].tracking_name
        position = _tracked(projector.engine, conn, name, STORE_SOURCE).get(0, 0)
        head = self.recorder.max_notification_id() or 0
        count = 0
        while batch := self.recorder.select_notifications(
            start=position, limit=self.batch_size, topics=self.topics, inclusive_of_start=False
        ):
            events = [from_notification(n, self.mapper) for n in batch]
            outcome = projector.process(events, conn=conn)
            count += len(events)
            result.applied += outcome.applied
            result.parked += outcome.parked
            position = batch[-1].id
            if advance:
                head = max(head, position)
                advance(len(events), position, head)
        return count


class TopicFeed(Feed):
    """All partitions of the topic, no consumer group (a rebuild must not take partitions
    from the live group), read_committed, up to the end offsets taken when it starts."""

    def __init__(
        self, kafka: KafkaSettings, batch_size: int, *, liveness: Liveness | None = None
    ) -> None:
        self.kafka = kafka
        self.source = kafka.topic
        self.batch_size = batch_size
        self.liveness = liveness or kafka.liveness

    def run(
        self,
        projector: Projector,
        result: RebuildResult,
        *,
        conn: Connection | None = None,
        advance: Advance | None = None,
    ) -> int:
        name = projector.models[0].tracking_name
        tracked = _tracked(projector.engine, conn, name, self.source)
        starts = {TopicPartition(self.source, p): offset + 1 for p, offset in tracked.items()}
        ranges: list[UpTo] = []

        def make() -> Any:
            return clients.consumer(
                self.kafka, client_id="lapor-es-rebuild", max_poll_records=self.batch_size
            )

        loop = ConsumerLoop(
            f"rebuild of {name} from {self.source}",
            bounded_opener(make, self.source, starts=starts, on_range=ranges.append),
            liveness=self.liveness,
            max_records=self.batch_size,
        )
        with loop:
            try:
                consumer = loop.consumer
            except LookupError:
                return 0  # no topic yet: nothing to rebuild from
            span = ranges[0]
            first = {tp: consumer.position(tp, timeout_ms=CALL_TIMEOUT_MS) or 0 for tp in span.ends}
            total = sum(max(0, end - first[tp]) for tp, end in span.ends.items())
            count = 0
            for polled in loop.batches(until=span.reached):
                decoded = decode_batch(polled, decode_record, within=span.within)
                outcome = projector.process(decoded.items, conn=conn)
                for bad in decoded.undecodable:  # off-contract: parked, as live does
                    record = bad.record
                    projector.park_undecodable(
                        bad.tp.topic, bad.tp.partition, record.offset, record.key, record.value,
                        bad.error, conn=conn,
                    )  # fmt: skip
                count += len(decoded.items)
                result.applied += outcome.applied
                result.parked += outcome.parked + len(decoded.undecodable)
                if advance and decoded.records:
                    done = sum(
                        min(loop.consumer.position(tp) or 0, end) - first[tp]
                        for tp, end in span.ends.items()
                    )
                    advance(decoded.records, done, total)
            return count


def _tracked(engine: Engine, conn: Connection | None, name: str, source: str) -> dict[int, int]:
    query = select(tracking.c.partition, tracking.c.offset).where(
        and_(tracking.c.projection == name, tracking.c.source == source)
    )
    if conn is not None:  # inside the swap: see this transaction's own writes
        return {p: o for p, o in conn.execute(query)}
    with engine.connect() as own:
        return {p: o for p, o in own.execute(query)}


# ----------------------------------------------------------------------- the rebuild
def rebuild(
    engine: Engine,
    feed: Feed,
    *,
    model_factory: ModelFactory,
    view_models: Sequence[ReadModel],
    prepare: Prepare,
    advance: Advance | None = None,
) -> RebuildResult:
    """Rebuild the model `model_factory` makes into `rb_` tables from `feed`, then swap it in.

    `engine` is on the read-model database (the caller's: not disposed here);
    `model_factory(prefix, table_metadata)` makes the model, live ("", None) and fresh;
    `view_models` are the live models whose views are recreated in the swap;
    `prepare(engine, models)` makes the database ready before the rebuild starts."""
    started = time.monotonic()
    live = model_factory("", None)
    fresh = model_factory(PREFIX, MetaData())
    name = live.name
    views = list(view_models)
    result = RebuildResult(name=name, source=feed.source)
    try:
        prepare(engine, views if any(v.name == name for v in views) else [live, *views])
        _discard(engine, fresh)  # what a crashed earlier rebuild left behind
        fresh.metadata.create_all(engine)
        projector = Projector(engine, [fresh])
        log.info("rebuild.start", projection=name, source=feed.source)
        result.events = feed.run(projector, result, advance=advance)
        with engine.begin() as conn:
            _lock(conn, live)
            result.final_events = feed.run(projector, result, conn=conn)
            result.events += result.final_events
            _check_complete(conn, live.tracking_name, fresh.tracking_name)
            _swap(conn, live, fresh, views)
        result.seconds = time.monotonic() - started
        log.info(
            "rebuild.swapped",
            projection=name,
            events=result.events,
            final_events=result.final_events,
            parked=result.parked,
            seconds=round(result.seconds, 3),
        )
        return result
    except BaseException:
        _discard(engine, fresh)
        raise


def _discard(engine: Engine, fresh: ReadModel) -> None:
    with engine.begin() as conn:
        for table in reversed(fresh.own_tables):
            table.drop(conn, checkfirst=True)
        for rows in (tracking, versions, dead_letters):
            conn.execute(delete(rows).where(rows.c.projection == fresh.tracking_name))


def _lock(conn: Connection, live: ReadModel) -> None:
    """Stop live batches from committing until the swap has."""
    if conn.dialect.name == "postgresql":
        # Every live batch claims versions before it writes a model's tables, so holding
        # this lock first means we never wait on a batch that waits on us (no deadlock).
        conn.execute(text(f"LOCK TABLE {versions.name} IN EXCLUSIVE MODE"))
    else:
        # SQLite: any write takes the database's single write lock (busy_timeout waits).
        conn.execute(
            update(tracking)
            .where(tracking.c.projection == live.tracking_name)
            .values(offset=tracking.c.offset)
        )


def _check_complete(conn: Connection, live_name: str, fresh_name: str) -> None:
    def applied(name: str) -> dict[str, int]:
        query = select(versions.c.complaint_id, versions.c.version).where(
            versions.c.projection == name
        )
        return {cid: version for cid, version in conn.execute(query)}

    live, rebuilt = applied(live_name), applied(fresh_name)
    behind = [cid for cid, v in live.items() if rebuilt.get(cid, 0) < v]
    if behind:
        raise RebuildBehindError(
            f"{len(behind)} complaint(s) have versions live that the rebuild's source does "
            f"not have yet (e.g. {behind[0]}); is the relay behind? Nothing was swapped."
        )


def _swap(
    conn: Connection, live: ReadModel, fresh: ReadModel, view_models: Sequence[ReadModel]
) -> None:
    drop_views(conn, view_models)
    for table in reversed(live.own_tables):
        table.drop(conn)
    for table in fresh.own_tables:
        _rename(conn, table, live.table(table.name.removeprefix(fresh.prefix)))
    _move_rows(conn, live.tracking_name, fresh.tracking_name)
    create_views(conn, view_models)


def _rename(conn: Connection, old: Table, new: Table) -> None:
    quote = conn.dialect.identifier_preparer.quote
    conn.execute(text(f"ALTER TABLE {quote(old.name)} RENAME TO {quote(new.name)}"))
    pairs = _index_pairs(old, new)
    if conn.dialect.name == "postgresql":
        for before, after in pairs:
            conn.execute(text(f"ALTER INDEX {quote(before)} RENAME TO {quote(after)}"))
        # Constraints and serial sequences PostgreSQL named after the rb_ table.
        constraints = conn.execute(
            text("SELECT conname FROM pg_constraint WHERE conrelid = CAST(:t AS regclass)"),
            {"t": new.name},
        ).scalars()
        for constraint in list(constraints):
            if old.name in constraint:
                renamed = constraint.replace(old.name, new.name, 1)
                conn.execute(
                    text(
                        f"ALTER TABLE {quote(new.name)} RENAME CONSTRAINT "
                        f"{quote(constraint)} TO {quote(renamed)}"
                    )
                )
        for column in new.columns:
            sequence = conn.execute(
                text("SELECT pg_get_serial_sequence(:t, :c)"), {"t": new.name, "c": column.name}
            ).scalar()
            if sequence and old.name in sequence:
                short = sequence.rsplit(".", 1)[-1].strip('"')
                conn.execute(
                    text(
                        f"ALTER SEQUENCE {quote(short)} RENAME TO "
                        f"{quote(short.replace(old.name, new.name, 1))}"
                    )
                )
    else:
        # SQLite cannot rename an index: drop the rb_ one, create the live definition.
        by_name = {str(index.name): index for index in new.indexes}
        for before, after in pairs:
            conn.execute(text(f"DROP INDEX {quote(before)}"))
            by_name[after].create(conn)


def _index_pairs(old: Table, new: Table) -> list[tuple[str, str]]:
    """(rb_ index name, live index name), matched by columns and uniqueness."""
    live = {
        (tuple(c.name for c in index.columns), bool(index.unique)): str(index.name)
        for index in new.indexes
    }
    pairs = []
    for index in old.indexes:
        key = (tuple(c.name for c in index.columns), bool(index.unique))
        if key in live and index.name != live[key]:
            pairs.append((str(index.name), live[key]))
    return pairs


def _move_rows(conn: Connection, live_name: str, fresh_name: str) -> None:
    """The rebuild's positions, claims and dead letters become the live model's.

    Live tracking rows of sources the rebuild did not read stay: the completeness check
    showed the rebuilt tables hold every event the live ones did, so those positions
    remain true, and a projector on that source resumes where it was."""
    sources = conn.execute(
        select(tracking.c.source).where(tracking.c.projection == fresh_name).distinct()
    ).scalars()
    conn.execute(
        delete(tracking).where(
            and_(tracking.c.projection == live_name, tracking.c.source.in_(list(sources)))
        )
    )
    conn.execute(delete(versions).where(versions.c.projection == live_name))
    conn.execute(
        update(dead_letters)
        .where(and_(dead_letters.c.projection == live_name, dead_letters.c.resolved_at.is_(None)))
        .values(resolved_at=utcnow(), error=dead_letters.c.error + " (superseded by a rebuild)")
    )
    for rows in (tracking, versions, dead_letters):
        conn.execute(
            update(rows).where(rows.c.projection == fresh_name).values(projection=live_name)
        )


# ----------------------------------------------------------------------- progress
class ProgressBar:
    """A rich progress bar on stderr with events/s and ETA (only when stderr is a terminal)."""

    def __init__(self, description: str) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            Progress,
            TaskProgressColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        self.events = 0
        self.started = time.monotonic()
        self.progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.fields[events]} events, {task.fields[rate]} ev/s"),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=False,
        )
        self.task = self.progress.add_task(description, total=None, events=0, rate="-")

    @staticmethod
    def wanted() -> bool:
        return sys.stderr.isatty()

    def __enter__(self) -> ProgressBar:
        self.progress.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.progress.stop()

    def __call__(self, count: int, done: int, total: int) -> None:
        self.events += count
        elapsed = time.monotonic() - self.started
        rate = f"{self.events / elapsed:,.0f}" if elapsed > 0 else "-"
        self.progress.update(
            self.task, completed=done, total=max(total, done), events=self.events, rate=rate
        )
