"""Units of work: how a command handler reads and writes aggregates.

A handler (lapor_es.application) loads aggregates with `uow.get`, decides, and hands them
to `uow.save`. Two units of work decide what saving means:

- `Immediate` (one command): each save is its own transaction with optimistic concurrency.
  A lost race raises eventsourcing's IntegrityError in the handler, which decides again on
  the fresh state.
- `Batch` (`LaporApp.handle_many`): saves are staged, and reads see what is staged, so each
  command sees the effects of the ones before it; `commit()` stores them all in ONE
  transaction, and leaving the batch without a commit rolls it back. Saving never raises
  inside a batch: a conflict shows at commit, and the caller runs the commands again one by
  one.

Either way a save carries the reporter keys the command staged (lapor_es.privacy), written
in the events' own transaction (`store`).

A handler that takes something outside the store for what it stages (a tracking number
from this writer's block, lapor_es.tracking) registers `on_rollback` to give it back
should the staged writes not be stored after all (a batch that does not commit).

`get_new` reads an aggregate that usually does not exist yet (a new reporter, a fresh
idempotency key) with one query instead of a snapshot read and an events read.

Why a batch is fast: a year of national traffic is filed a day at a time, and most of a
day's commands touch aggregates the day before left in the repository's cache. A batch
whose store head is still where the previous committed batch left it (nobody else wrote
since) reads those cached aggregates directly, without copying or re-querying them; if it
does not commit, the whole cache is dropped, because its commands may have mutated cached
aggregates in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from types import TracebackType
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, Cache, LRUCache
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import Recording

from lapor_es.privacy import KeyStore
from lapor_es.recorders import KEY_ROWS, WritesReporterKeys

T = TypeVar("T")


class UnitOfWork(Protocol):
    def get(self, aggregate_id: UUID, cls: type[T]) -> T | None:
        """The aggregate, or None when there is none of that class."""
        ...

    def get_new(self, aggregate_id: UUID, cls: type[T]) -> T | None:
        """As `get`, for an aggregate that usually does not exist yet: one query if not."""
        ...

    def save(self, *objs: Any) -> None:
        """Aggregates (and log entries) whose pending events are to be stored; None is skipped."""
        ...

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Call `undo` if what was saved through this unit of work is not stored after all."""
        ...


def store(app: Application[UUID], keys: KeyStore, objs: Sequence[Any]) -> list[Recording[UUID]]:
    """Save `objs` with the reporter keys staged for them, in one transaction where the
    recorder can carry them (lapor_es.recorders), else the keys just before.

    A save that raises drops the staged keys: whether its transaction committed is unknown
    (a connection cut during COMMIT), and a key left staged would ride along with every
    later save of this thread and fail it on the key's primary key. A retried filing stages
    its key again if the reporter is still unknown, and needs none if the first one stored."""
    try:
        if isinstance(app.recorder, WritesReporterKeys):
            rows = keys.staged_rows()
            recordings = app.save(*objs, **{KEY_ROWS: rows}) if rows else app.save(*objs)
        else:
            keys.write_staged_keys()
            recordings = app.save(*objs)
    except BaseException:
        keys.discard_staged_keys()
        raise
    keys.staged_stored()
    return recordings


def _load_new(app: Application[UUID], aggregate_id: UUID, cls: type[T]) -> T | None:
    """The aggregate, reading only its last event when there is none (the usual case) or
    when that event is all there is (an idempotency key: one creation event)."""
    cache = app.repository.cache
    if cache is not None:
        try:
            cache.get(aggregate_id)
        except KeyError:
            pass
        else:  # cached: it exists, and the repository serves it without a snapshot read
            return _load(app, aggregate_id, cls, copy=True)
    last = list(app.events.get(aggregate_id, desc=True, limit=1))
    if not last:
        return None
    if last[0].originator_version == 1:
        aggregate: Any = last[0].mutate(None)  # type: ignore[attr-defined]
        return aggregate if isinstance(aggregate, cls) else None
    return _load(app, aggregate_id, cls, copy=True)


def _load(app: Application[UUID], aggregate_id: UUID, cls: type[T], *, copy: bool) -> T | None:
    try:
        aggregate: Any = app.repository.get(aggregate_id, deepcopy_from_cache=copy)
    except AggregateNotFoundError:
        return None
    return aggregate if isinstance(aggregate, cls) else None


class Immediate:
    """Every save is one transaction; a lost race raises IntegrityError to the handler."""

    def __init__(self, app: Application[UUID], keys: KeyStore) -> None:
        self.app = app
        self.keys = keys

    def get(self, aggregate_id: UUID, cls: type[T]) -> T | None:
        return _load(self.app, aggregate_id, cls, copy=True)

    def get_new(self, aggregate_id: UUID, cls: type[T]) -> T | None:
        return _load_new(self.app, aggregate_id, cls)

    def save(self, *objs: Any) -> None:
        store(self.app, self.keys, [obj for obj in objs if obj is not None])

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Nothing to do: a save that returned is stored (a failed one raised)."""


class Batch:
    """Many commands, one commit. Use as a context manager: leaving it uncommitted rolls back.

    `after` is the store head the previous committed batch left (`Batch.head`), if any.
    """

    def __init__(self, app: Application[UUID], keys: KeyStore, *, after: int | None) -> None:
        self.app = app
        self.keys = keys
        self.trusts_cache = (
            after is not None
            and app.repository.cache is not None
            and app.recorder.max_notification_id() == after
        )
        self.staged: dict[UUID, Any] = {}
        self.log_entries: list[DomainEvent] = []
        self.committed = False
        self.head: int | None = None  # the store head after our commit, if the cache is current
        self.undos: list[Callable[[], None]] = []

    def __enter__(self) -> Batch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.committed:
            self.rollback()

    def get(self, aggregate_id: UUID, cls: type[T]) -> T | None:
        if aggregate_id in self.staged:
            staged = self.staged[aggregate_id]
            return staged if isinstance(staged, cls) else None
        cache = self.app.repository.cache
        if self.trusts_cache and cache is not None:
            try:
                cached = cache.get(aggregate_id)
            except KeyError:
                pass
            else:
                return cached if isinstance(cached, cls) else None
        # No defensive copy: a batch that does not commit drops the whole cache.
        return _load(self.app, aggregate_id, cls, copy=False)

    def get_new(self, aggregate_id: UUID, cls: type[T]) -> T | None:
        if aggregate_id in self.staged:
            return self.get(aggregate_id, cls)
        return _load_new(self.app, aggregate_id, cls)

    def on_rollback(self, undo: Callable[[], None]) -> None:
        self.undos.append(undo)

    def save(self, *objs: Any) -> None:
        for obj in objs:
            if obj is None:
                continue
            if isinstance(obj, DomainEvent):
                self.log_entries.append(obj)
            else:
                self.staged[obj.id] = obj

    def commit(self) -> None:
        """Store everything staged, and the reporter keys its filings made, in one
        transaction. Raises IntegrityError on a conflict."""
        recordings = store(self.app, self.keys, [*self.staged.values(), *self.log_entries])
        self.committed = True
        self.undos.clear()
        cache = self.app.repository.cache
        if cache is None or not recordings:
            return
        for aggregate in self.staged.values():
            cache.put(aggregate.id, aggregate)
        self.head = recordings[-1].notification.id

    def rollback(self) -> None:
        """Nothing staged is stored; keys made for it are dropped; so is the cache, whose
        aggregates this batch's commands may have mutated."""
        self.keys.discard_staged_keys()
        for undo in reversed(self.undos):
            undo()
        self.undos.clear()
        self.staged.clear()
        self.log_entries.clear()
        self.head = None
        forget(self.app.repository.cache)


def forget(cache: Cache[Any, Any] | None) -> None:
    """Empty an aggregate cache. `LRUCache.clear()` alone only resets its recency list and
    keeps every entry (so the batch before this module kept serving mutated aggregates
    after a conflict); the entries go too."""
    if cache is None:
        return
    if isinstance(cache, LRUCache):
        with cache.lock:
            cache.cache.clear()
            cache.clear()
            cache.full = False
    else:
        cache.cache.clear()
