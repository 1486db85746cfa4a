"""Stored snapshots against replay: a snapshot must be what its events produce.

The application snapshots complaints (every `LAPOR_SNAPSHOT_INTERVAL` events), tracking
sequences and reporters, and `show` loads the latest snapshot plus the events after it. A
snapshot is not hash-chained, so an edited one would silently change what `show` says
(ARCHIVED while the last event is Resolved). Each stored snapshot is rebuilt here from
its aggregate's events up to the snapshot's version, both pass through the same mapper
(so types compare alike), and any difference is a `snapshot_mismatch`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, cast
from uuid import UUID

from eventsourcing.persistence import AggregateRecorder, EventStore

from lapor_es.contract.chainstate import Finding


@dataclass(frozen=True)
class SnapshotSource:
    """The application's snapshot store and event store (`app.snapshots`, `app.events`)."""

    snapshots: EventStore[Any]
    events: EventStore[Any]


def stored_snapshot_keys(recorder: AggregateRecorder) -> Iterator[tuple[UUID, int]]:
    """(aggregate id, version) of every stored snapshot, whichever database holds them."""
    table = getattr(recorder, "events_table_name", None)
    datastore: Any = getattr(recorder, "datastore", None)
    if hasattr(recorder, "_stored_events"):  # the in-memory store
        for stored in recorder._stored_events:
            yield UUID(str(stored.originator_id)), int(stored.originator_version)
        return
    if table is None or datastore is None:
        raise TypeError(f"cannot list the snapshots of a {type(recorder).__name__}")
    if "postgres" in type(recorder).__module__:
        from psycopg.sql import SQL, Identifier

        query = SQL("SELECT originator_id, originator_version FROM {}.{}").format(
            Identifier(datastore.schema), Identifier(table)
        )
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(query)
            rows = [(row["originator_id"], row["originator_version"]) for row in cursor]
    else:
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT originator_id, originator_version FROM {table}")
            rows = [(row[0], row[1]) for row in cursor.fetchall()]
    for originator_id, version in rows:
        yield UUID(str(originator_id)), int(version)


def check_snapshots(source: SnapshotSource) -> tuple[list[Finding], int]:
    """Findings for snapshots that replay does not reproduce, and how many were checked."""
    by_aggregate: dict[UUID, list[int]] = defaultdict(list)
    for aggregate_id, version in stored_snapshot_keys(source.snapshots.recorder):
        by_aggregate[aggregate_id].append(version)
    findings: list[Finding] = []
    checked = 0
    for aggregate_id, versions in by_aggregate.items():
        for version in sorted(versions):
            checked += 1
            problem = _difference(source, aggregate_id, version)
            if problem is not None:
                findings.append(
                    Finding(
                        complaint_id=str(aggregate_id),
                        tracking_id=None,
                        version=version,
                        source="store",
                        kind="snapshot_mismatch",
                        detail=problem,
                        stream="snapshot",
                    )
                )
    return findings, checked


def _difference(source: SnapshotSource, aggregate_id: UUID, version: int) -> str | None:
    """What is wrong with the stored snapshot at `version`, or None."""
    mapper = source.snapshots.mapper
    try:
        (found,) = list(source.snapshots.get(aggregate_id, gt=version - 1, lte=version))
        stored: Any = found
    except Exception as exc:  # an edited row may fail anywhere in decoding
        return f"snapshot does not decode ({type(exc).__name__}: {exc})"
    aggregate: Any = None
    try:
        for event in source.events.get(aggregate_id, lte=version):
            aggregate = cast(Any, event).mutate(aggregate)
    except Exception as exc:
        return f"its events do not replay ({type(exc).__name__}: {exc})"
    if aggregate is None or aggregate.version != version:
        held = 0 if aggregate is None else aggregate.version
        return f"snapshot at version {version}, but the events stop at version {held}"
    replayed: Any = mapper.to_domain_event(mapper.to_stored_event(type(stored).take(aggregate)))
    if stored.topic != replayed.topic:
        return f"snapshot of {stored.topic}, the events build a {replayed.topic}"
    changed = sorted(
        key
        for key in set(stored.state) | set(replayed.state)
        if stored.state.get(key) != replayed.state.get(key)
    )
    if changed:
        first = changed[0]
        return (
            f"differs from replay in {', '.join(changed)} (e.g. {first}: snapshot "
            f"{stored.state.get(first)!r}, replay {replayed.state.get(first)!r})"
        )
    return None
