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

Why a batch is fast: a year of national traffic is filed a day at a time, and most of a
day's commands touch aggregates the day before left in the repository's cache. A batch
whose store head is still where the previous committed batch left it (nobody else wrote
since) reads those cached aggregates directly, without copying or re-querying them; if it
does not commit, the whole cache is dropped, because its commands may have mutated cached
aggregates in place.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any, Protocol, TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application, Cache, LRUCache
from eventsourcing.domain import DomainEvent

from lapor_es.privacy import KeyStore

T = TypeVar("T")


class UnitOfWork(Protocol):
    def get(self, aggregate_id: UUID, cls: type[T]) -> T | None:
        """The aggregate, or None when there is none of that class."""
        ...

    def save(self, *objs: Any) -> None:
        """Aggregates (and log entries) whose pending events are to be stored; None is skipped."""
        ...


def _load(app: Application[UUID], aggregate_id: UUID, cls: type[T], *, copy: bool) -> T | None:
    try:
        aggregate: Any = app.repository.get(aggregate_id, deepcopy_from_cache=copy)
    except AggregateNotFoundError:
        return None
    return aggregate if isinstance(aggregate, cls) else None


class Immediate:
    """Every save is one transaction; a lost race raises IntegrityError to the handler."""

    def __init__(self, app: Application[UUID]) -> None:
        self.app = app

    def get(self, aggregate_id: UUID, cls: type[T]) -> T | None:
        return _load(self.app, aggregate_id, cls, copy=True)

    def save(self, *objs: Any) -> None:
        self.app.save(*objs)


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

    def __enter__(self) -> Batch:
        self.keys.defer_new_keys()
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

    def save(self, *objs: Any) -> None:
        for obj in objs:
            if obj is None:
                continue
            if isinstance(obj, DomainEvent):
                self.log_entries.append(obj)
            else:
                self.staged[obj.id] = obj

    def commit(self) -> None:
        """Store everything staged in one transaction (new reporter keys just before, since
        the events cannot be read without them). Raises IntegrityError on a conflict."""
        self.keys.write_deferred_keys()
        recordings = self.app.save(*self.staged.values(), *self.log_entries)
        self.committed = True
        cache = self.app.repository.cache
        if cache is None or not recordings:
            return
        for aggregate in self.staged.values():
            cache.put(aggregate.id, aggregate)
        self.head = recordings[-1].notification.id

    def rollback(self) -> None:
        """Nothing staged is stored; keys made for it are dropped; so is the cache, whose
        aggregates this batch's commands may have mutated."""
        self.keys.discard_deferred_keys()
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
