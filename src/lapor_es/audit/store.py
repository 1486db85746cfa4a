"""The store pass of an audit: every stored event, whatever its topic, in log order.

What one pass over the notification log checks (design.md section 6, docs/audit.md):

- complaint chains (`ChainChecker`, as on the topic) and the agency directory's chains, the
  same way; an event whose content does not decode is `modified`;
- topics: every stored topic is read, not only the complaint classes the relay publishes.
  A topic that does not resolve to a lapor-es event, or an event of another aggregate on
  a stream (say a complaint's last event re-labelled so a topic filter skips it), is an
  `unknown_topic`; so is a creation event naming another aggregate class;
- the other streams (tracking sequences, reporters, idempotency keys, the directory's
  index log) are not chained, but their versions must run 1..n: a hole is `missing`;
- tracking numbers: per year every number up to the highest issued, reserved or filed has
  its complaint or is explained, and every complaint's number was issued (`tracking_gap`),
  so deleting a whole complaint shows. Numbers come one `NumberIssued` each (before
  blocks) or in writers' blocks (`BlockReserved`, lapor_es.tracking); a number of a block
  is explained when its writer released it unused (`BlockReleased`), or, in a block its
  writer never closed (still running, or stopped without closing), when it is above the
  block's highest filed number: a writer issues in ascending order. A block is closed by
  its release, or by the same writer's next reservation of that year (it only reserves
  again when the block is used up). Explained numbers are listed, not reported;
- positions: a hole in the notification log is a `position_gap` where the database never
  leaves one (SQLite and the in-memory store: a rolled-back insert gives its rowid back).
  PostgreSQL's `bigserial` does leave holes: a transaction that loses an
  optimistic-concurrency race has already drawn its positions from the sequence, and
  sequences are not transactional. There a hole is listed as explained, not a finding:
  a deleted chained event shows anyway (`missing`, `tracking_gap`, or against a checkpoint).

Memory: the chain state of `chainstate.py` per complaint and agency, one small integer per
other stream, eight bytes per filed and eight per issued number, a few per block.
"""

from __future__ import annotations

import bisect
import re
from array import array
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from eventsourcing.domain import CanInitAggregate
from eventsourcing.persistence import ApplicationRecorder, Mapper, Notification
from eventsourcing.utils import get_topic, resolve_topic

from lapor_es.aggregates import Agency, Complaint
from lapor_es.aggregates.agency import UNCHAINED
from lapor_es.aggregates.chain import directory_payload
from lapor_es.aggregates.registry import TrackingSequence
from lapor_es.contract.chainstate import ChainChecker, Finding, Where
from lapor_es.contract.integrity import Kind
from lapor_es.contract.payloads import public_payload

TRACKING = re.compile(r"^LAP-(\d{4})-(\d{7})$")
# The aggregates (and the directory's index log) whose events the store holds; a stream's
# owner is the class its events are nested in, or the log's event class itself.
OWNERS = (
    "Complaint",
    "Agency",
    "TrackingSequence",
    "IdempotencyKey",
    "Reporter",
    "AgencyListed",
    "Deployment",  # the store's complaint-id namespace (aggregates.deployment)
)
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Gap:
    """Positions first..last absent from the notification log."""

    first: int
    last: int

    def as_dict(self) -> dict[str, int]:
        return {"first": self.first, "last": self.last}


@dataclass
class NumberBlock:
    """A block of tracking numbers a writer reserved, and what became of it."""

    writer: str
    first: int
    last: int
    closed: bool = False  # released, or followed by the writer's next reservation
    unused: list[tuple[int, int]] = field(default_factory=list)  # released unused, inclusive

    def released_unused(self, number: int) -> bool:
        return any(start <= number <= end for start, end in self.unused)


@dataclass(frozen=True)
class ExplainedNumbers:
    """Tracking numbers of a year absent for a reason the store records (not findings)."""

    year: int
    first: int
    last: int
    reason: str

    def as_dict(self) -> dict[str, int | str]:
        return {"year": self.year, "first": self.first, "last": self.last, "reason": self.reason}


@dataclass
class StoreScan:
    """One pass over the store. Feed it notifications in order, then `finish()`."""

    mapper: Mapper[Any]
    gaps_are_findings: bool = True  # False on PostgreSQL (see the module docstring)
    complaints: ChainChecker = field(default_factory=lambda: ChainChecker("store"))
    agencies: ChainChecker = field(
        default_factory=lambda: ChainChecker(
            "store", stream="agency", id_field="agency_id", label_field="code"
        )
    )
    findings: list[Finding] = field(default_factory=list)
    explained_gaps: list[Gap] = field(default_factory=list)
    head: int = 0  # the last position read
    events: int = 0
    # Directory events of the release before the directory chain: not tamper-evident.
    unchained_directory_events: int = 0
    # Unchained streams: originator id -> version * 8 + index of its owner in OWNERS.
    streams: dict[str, int] = field(default_factory=dict)
    filed: dict[int, array[int]] = field(default_factory=dict)  # year -> position/-1
    issued_at: dict[int, array[int]] = field(default_factory=dict)  # year -> position/-1
    sequence_years: dict[str, int] = field(default_factory=dict)  # sequence id -> year
    blocks: dict[int, list[NumberBlock]] = field(default_factory=dict)  # year -> by `first`
    explained_numbers: list[ExplainedNumbers] = field(default_factory=list)

    # ------------------------------------------------------------- one event
    def add(self, notification: Notification) -> None:
        self.events += 1
        position = int(notification.id)
        self._position(position)
        stream_id = str(notification.originator_id)
        version = int(notification.originator_version)
        where = Where(position=position)
        owner = _owner_of_topic(notification.topic)
        if owner is None:
            self._not_ours(stream_id, version, where, f"topic {notification.topic!r} is unknown")
            return
        try:
            event = self.mapper.to_domain_event(notification)
            payload = _chained_payload(event)  # fails on a row lacking a chained field
        except Exception as exc:  # a tampered row may fail anywhere in decoding: report it
            detail = f"stored event does not decode ({type(exc).__name__}: {exc})"
            self._unreadable(stream_id, version, where, detail, owner)
            return
        if problem := self._misplaced(stream_id, owner, event):
            self._not_ours(stream_id, version, where, problem)
            return
        if isinstance(event, Complaint.Event):
            assert payload is not None
            self.complaints.observe(payload, where)
            self._filed(event, position)
        elif isinstance(event, Agency.Event) and event.event_hash == UNCHAINED:
            self.unchained_directory_events += 1  # stored before the directory chain
            label = getattr(event, "code", None)
            self.agencies.unhashed(stream_id, version, label, UNCHAINED, where)
        elif isinstance(event, Agency.Event):
            assert payload is not None
            self.agencies.observe(payload, where)
        else:
            self._unchained(stream_id, owner, version, where)
            if isinstance(event, TrackingSequence.Event):
                self._issued(stream_id, event, position)

    def _position(self, position: int) -> None:
        if position > self.head + 1:
            gap = Gap(self.head + 1, position - 1)
            if self.gaps_are_findings:
                self._report(
                    "position_gap",
                    f"positions {gap.first}..{gap.last} are absent: events were deleted "
                    "(this store never leaves a hole)",
                    Where(position=gap.first),
                )
            else:
                self.explained_gaps.append(gap)
        self.head = max(self.head, position)

    def _misplaced(self, stream_id: str, owner: str, event: Any) -> str | None:
        """Why `event` does not belong on its stream, or None."""
        known = self._owner_of_stream(stream_id)
        if known is not None and known != owner:
            return f"a {type(event).__qualname__} event on a {known} stream"
        if isinstance(event, CanInitAggregate):
            aggregate_topic = get_topic(type(event)).rpartition(".")[0]
            if owner != "AgencyListed" and event.originator_topic != aggregate_topic:
                return f"creates a {event.originator_topic!r}, not a {aggregate_topic!r}"
        return None

    def _owner_of_stream(self, stream_id: str) -> str | None:
        if stream_id in self.complaints.chains:
            return "Complaint"
        if stream_id in self.agencies.chains:
            return "Agency"
        packed = self.streams.get(stream_id)
        return None if packed is None else OWNERS[packed % 8]

    def _checker_for(self, owner: str) -> ChainChecker | None:
        return {"Complaint": self.complaints, "Agency": self.agencies}.get(owner)

    def _unreadable(
        self, stream_id: str, version: int, where: Where, detail: str, owner: str
    ) -> None:
        checker = self._checker_for(self._owner_of_stream(stream_id) or owner)
        if checker is not None:
            checker.unreadable(stream_id, version, where, detail)
            return
        self._unchained(stream_id, owner, version, where)
        self._report("modified", f"{owner} {stream_id} version {version}: {detail}", where)

    def _not_ours(self, stream_id: str, version: int, where: Where, detail: str) -> None:
        checker = self._checker_for(self._owner_of_stream(stream_id) or "")
        if checker is not None:  # the chain notes the version, so it is not also missing
            checker.unreadable(stream_id, version, where, detail, kind="unknown_topic")
            return
        self._report("unknown_topic", f"stream {stream_id} version {version}: {detail}", where)

    def _unchained(self, stream_id: str, owner: str, version: int, where: Where) -> None:
        """Versions of an unchained stream run 1..n in log order."""
        packed = self.streams.get(stream_id)
        last = 0 if packed is None else packed // 8
        if version != last + 1:
            self._report(
                "missing" if version > last + 1 else "reordered",
                f"{owner} {stream_id}: version {version} follows version {last}",
                where,
            )
        self.streams[stream_id] = max(version, last) * 8 + OWNERS.index(owner)

    # ------------------------------------------------------------- tracking numbers
    def _filed(self, event: Complaint.Event, position: int) -> None:
        if not isinstance(event, Complaint.Filed):
            return
        parsed = TRACKING.match(event.tracking_id)
        if parsed is None:
            self._report(
                "tracking_gap",
                f"{event.tracking_id!r} is not a tracking number",
                Where(position=position),
            )
            return
        year, number = int(parsed[1]), int(parsed[2])
        positions = self.filed.setdefault(year, array("q"))
        while len(positions) < number:
            positions.append(-1)
        positions[number - 1] = position

    def _issued(self, stream_id: str, event: Any, position: int) -> None:
        if isinstance(event, TrackingSequence.Started):
            self.sequence_years[stream_id] = event.year
            return
        year = self.sequence_years.get(stream_id)
        if year is None:
            return  # its Started event is missing: reported as a version hole
        if isinstance(event, TrackingSequence.BlockReserved):
            self._reserved(year, event)
            return
        if isinstance(event, TrackingSequence.BlockReleased):
            self._released(year, event)
            return
        if not isinstance(event, TrackingSequence.NumberIssued):
            return
        positions = self.issued_at.setdefault(year, array("q"))
        while len(positions) < event.number:
            positions.append(-1)
        positions[event.number - 1] = position

    def _reserved(self, year: int, event: TrackingSequence.BlockReserved) -> None:
        blocks = self.blocks.setdefault(year, [])
        for block in blocks:  # a writer reserves again only when its block is used up
            if block.writer == event.writer:
                block.closed = True
        bisect.insort(blocks, NumberBlock(event.writer, event.first, event.last), key=_first)

    def _released(self, year: int, event: TrackingSequence.BlockReleased) -> None:
        for block in self.blocks.get(year, []):
            if (block.writer, block.first, block.last) == (event.writer, event.first, event.last):
                block.closed = True
                block.unused.extend((int(a), int(b)) for a, b in event.unused)

    def _block_of(self, year: int, number: int) -> NumberBlock | None:
        blocks = self.blocks.get(year, [])
        index = bisect.bisect_right(blocks, number, key=_first) - 1
        if index >= 0 and blocks[index].first <= number <= blocks[index].last:
            return blocks[index]
        return None

    def tracking_high_water(self, upto: int | None = None) -> dict[str, int]:
        """Per year, the highest number issued (one by one, before blocks) or filed at or
        before position `upto`: deleting the year's latest complaints lowers it."""
        marks: dict[str, int] = {}
        for year in set(self.issued_at) | set(self.filed):
            for positions in (self.issued_at.get(year, ()), self.filed.get(year, ())):
                seen = [
                    n for n, p in enumerate(positions, 1) if p >= 0 and (upto is None or p <= upto)
                ]
                if seen:
                    marks[str(year)] = max(marks.get(str(year), 0), max(seen))
        return marks

    def _check_tracking(self) -> None:
        for year in sorted(set(self.filed) | set(self.issued_at) | set(self.blocks)):
            filed = self.filed.get(year, array("q"))
            issued = self.issued_at.get(year, array("q"))
            top_filed = self._top_filed_per_block(year, filed)
            highest = max(len(filed), len(issued))
            for number in range(1, highest + 1):
                was_filed = number <= len(filed) and filed[number - 1] >= 0
                was_issued = number <= len(issued) and issued[number - 1] >= 0
                block = self._block_of(year, number)
                if was_filed and (was_issued or block is not None):
                    continue
                if not was_filed and not was_issued and block is not None:
                    reason = self._unused_reason(block, number, top_filed)
                    if reason is not None:
                        self._explain(year, number, reason)
                        continue
                self._report_number(year, number, was_filed, was_issued, block, issued)
            for block in self.blocks.get(year, []):  # numbers above every filed one
                for number in range(max(block.first, highest + 1), block.last + 1):
                    reason = self._unused_reason(block, number, top_filed)
                    if reason is not None:
                        self._explain(year, number, reason)
                    else:  # a closed block's tail, issued, with no complaint
                        self._report_number(year, number, False, False, block, issued)

    def _top_filed_per_block(self, year: int, filed: array[int]) -> dict[int, int]:
        """Block (by first number) -> its highest filed number."""
        top: dict[int, int] = {}
        for number, position in enumerate(filed, 1):
            if position >= 0 and (block := self._block_of(year, number)) is not None:
                top[block.first] = number
        return top

    @staticmethod
    def _unused_reason(block: NumberBlock, number: int, top_filed: dict[int, int]) -> str | None:
        """Why a number of `block` with no complaint is not a finding, or None."""
        if block.released_unused(number):
            return "released unused by its writer"
        if not block.closed and number > top_filed.get(block.first, block.first - 1):
            return "not yet issued: its writer has not released its block"
        return None

    def _explain(self, year: int, number: int, reason: str) -> None:
        last = self.explained_numbers[-1] if self.explained_numbers else None
        if last and (last.year, last.last + 1, last.reason) == (year, number, reason):
            self.explained_numbers[-1] = ExplainedNumbers(year, last.first, number, reason)
        else:
            self.explained_numbers.append(ExplainedNumbers(year, number, number, reason))

    def _report_number(
        self,
        year: int,
        number: int,
        was_filed: bool,
        was_issued: bool,
        block: NumberBlock | None,
        issued: array[int],
    ) -> None:
        detail = (
            "filed, but the year's sequence never issued it"
            if was_filed
            else "issued, but no complaint is stored under it (deleted?)"
            if was_issued
            else f"issued from writer {block.writer}'s block {block.first}..{block.last} "
            "(below a number it filed, or in a block it closed), but no complaint is stored "
            "under it (deleted?)"
            if block is not None
            else "below the year's highest number, but neither issued nor filed"
        )
        position = issued[number - 1] if was_issued else None
        self._report(
            "tracking_gap",
            detail,
            Where(position=position),
            tracking_id=f"LAP-{year}-{number:07d}",
        )

    # ------------------------------------------------------------- the end
    def _report(
        self, kind: Kind, detail: str, where: Where, *, tracking_id: str | None = None
    ) -> None:
        self.findings.append(
            Finding(
                complaint_id="",
                tracking_id=tracking_id,
                version=0,
                source="store",
                kind=kind,
                detail=detail,
                position=where.position,
                stream="store" if tracking_id is None else "complaint",
            )
        )

    def finish(self) -> None:
        """The checks that need the whole log: absent versions, tracking numbers."""
        self.complaints.finish()
        self.agencies.finish()
        self._check_tracking()

    @property
    def all_findings(self) -> list[Finding]:
        """Every finding of the pass: complaint chains, directory chains, the rest."""
        return self.complaints.findings + self.agencies.findings + self.findings


def _first(block: NumberBlock | int) -> int:
    return block if isinstance(block, int) else block.first


def _owner_of_topic(topic: str) -> str | None:
    """The aggregate a stored topic's events belong to, if it is a lapor-es event class."""
    module, _, qualname = topic.partition(":")
    if not module.startswith("lapor_es.") or qualname.split(".")[0] not in OWNERS:
        return None
    try:
        resolve_topic(topic)
    except Exception:  # an unknown module or class: anything may be written into a row
        return None
    return qualname.split(".")[0]


def _chained_payload(event: Any) -> dict[str, Any] | None:
    """The hashed payload of a complaint or directory event; None for other events."""
    if isinstance(event, Complaint.Event):
        return public_payload(event)
    if isinstance(event, Agency.Event):
        return _directory_payload(event)
    return None


def _directory_payload(event: Agency.Event) -> dict[str, Any]:
    payload = directory_payload(
        type(event).__name__, event.originator_id, event.originator_version, vars(event)
    )
    payload["event_hash"] = event.event_hash
    return payload


def scan(
    recorder: ApplicationRecorder,
    mapper: Mapper[Any],
    *,
    gaps_are_findings: bool,
    progress: Progress | None = None,
    page_size: int = 2000,
) -> StoreScan:
    """Read the whole notification log once, and finish."""
    store = StoreScan(mapper, gaps_are_findings=gaps_are_findings)
    start = 0
    while page := recorder.select_notifications(
        start=start, limit=page_size, inclusive_of_start=False
    ):
        for notification in page:
            store.add(notification)
        if progress is not None:
            progress(page[-1].id - start)
        start = page[-1].id
    store.finish()
    return store
