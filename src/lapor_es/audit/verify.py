"""Audit verification: replay the topic from offset 0 and the event store, check both.

Three passes, each streaming (design.md section 6):

1. the topic, every partition from its beginning to the end offsets taken at the start,
   `read_committed`, manually assigned (no consumer group, so an audit never moves anyone's
   offsets): envelope vs payload, payload hash, per-complaint chain;
2. the store's notification log, every topic (`audit/store.py`): the same chain checks
   for complaints and the agency directory, topics, stream versions, tracking numbers and
   positions; then stored snapshots against replay (`audit/snapshots.py`) and, if given,
   a signed checkpoint of the chain heads (`audit/checkpoint.py`);
3. agreement: every stored (complaint, version) is on the topic with the same hash and
   `ce_position`, and nothing is on the topic that the store does not hold.

The topic is read first and the store second, so an event the relay publishes while the
audit runs can only show up as "not yet published", never as a forgery.

The topic pass runs in `jobs` processes (`scan_topic_parallel`), each checking a share of
the partitions: a complaint's records all live in one partition (the key is the complaint
id), so each process holds whole chains and the union of their results is what one reader
would find. Processes, not threads: the checks are CPU-bound Python (JSON, SHA-256 of the
canonical payload) and the GIL would serialize threads.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from collections import Counter
from collections.abc import Callable, Mapping
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import structlog
from eventsourcing.persistence import ApplicationRecorder, Mapper
from kafka import KafkaConsumer, TopicPartition

from lapor_es.audit import store as store_pass
from lapor_es.audit.checkpoint import Checkpoint, compare_checkpoint
from lapor_es.audit.snapshots import SnapshotSource, check_snapshots
from lapor_es.contract.chainstate import ABSENT, REPORTED, ChainChecker, Finding, Where
from lapor_es.contract.cloudevents import SPEC_VERSION, ce_id, ce_type, header_map
from lapor_es.kafka import clients
from lapor_es.kafka.loop import (
    ConsumerLoop,
    Liveness,
    Opener,
    UpTo,
    assign_range,
    bounded_opener,
    partitions_of,
)
from lapor_es.kafka.settings import KafkaSettings

log = structlog.get_logger("lapor_es.audit.verify")

Progress = Callable[[int], None]  # called with the number of events just checked


def _no_progress(_: int) -> None:
    return None


@dataclass
class AuditReport:
    findings: list[Finding] = field(default_factory=list)
    topic_events: int | None = None  # None: the topic was not read
    store_events: int | None = None
    not_yet_published: int = 0  # stored after the topic's committed head: not an error
    topic_head: int = 0  # highest ce_position on the topic
    seconds: float = 0.0
    # Holes in PostgreSQL's notification log: positions drawn by rolled-back inserts.
    explained_gaps: list[store_pass.Gap] = field(default_factory=list)
    # Tracking numbers with no complaint that the store explains (unused numbers of blocks).
    explained_numbers: list[store_pass.ExplainedNumbers] = field(default_factory=list)
    snapshots_checked: int | None = None  # None: not checked
    checkpoint_position: int | None = None  # the checkpoint compared with, if any
    # Directory events stored before the directory was hash-chained: nothing to check.
    unchained_directory_events: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def counts(self) -> dict[str, int]:
        return dict(sorted(Counter(f.kind for f in self.findings).items()))

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "findings": len(self.findings),
            "by_kind": self.counts,
            "topic_events": self.topic_events,
            "store_events": self.store_events,
            "not_yet_published": self.not_yet_published,
            "topic_head_position": self.topic_head,
            "explained_position_gaps": [g.as_dict() for g in self.explained_gaps],
            "explained_tracking_numbers": [n.as_dict() for n in self.explained_numbers],
            "snapshots_checked": self.snapshots_checked,
            "checkpoint_position": self.checkpoint_position,
            "unchained_directory_events": self.unchained_directory_events,
            "seconds": round(self.seconds, 3),
        }

    def as_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "findings": [f.as_dict() for f in self.findings]}


# ------------------------------------------------------------------ the topic
def topic_totals(kafka: KafkaSettings) -> int:
    """Records (and transaction markers) on the topic now: a progress bar's total."""
    consumer = _reader(kafka)
    try:
        partitions = partitions_of(consumer, kafka.topic)
        begin = consumer.beginning_offsets(partitions)
        end = consumer.end_offsets(partitions)
        return sum(end[tp] - begin[tp] for tp in partitions)
    finally:
        consumer.close()


def _reader(kafka: KafkaSettings) -> KafkaConsumer:
    """No consumer group: an audit never moves anyone's offsets."""
    return clients.consumer(
        kafka,
        client_id=f"{kafka.client_id}-audit",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
    )


def scan_topic(
    kafka: KafkaSettings,
    checker: ChainChecker,
    *,
    progress: Progress = _no_progress,
    liveness: Liveness | None = None,
) -> int:
    """Check every committed record up to the end offsets taken now; returns the head
    position (the highest `ce_position` read)."""
    ranges: list[UpTo] = []
    loop = ConsumerLoop(
        f"audit of {kafka.topic}",
        bounded_opener(lambda: _reader(kafka), kafka.topic, on_range=ranges.append),
        liveness=liveness or kafka.liveness,
        max_records=10_000,
    )
    head = 0
    with loop:
        loop.consumer  # noqa: B018  (opens it: fixes the range, or raises LookupError)
        for batch in loop.batches(until=lambda consumer: ranges[0].reached(consumer)):
            for tp, records in batch.items():
                checked = 0
                for record in records:
                    if ranges[0].within(tp, record.offset):
                        head = max(head, check_record(checker, tp.partition, record))
                        checked += 1
                progress(checked)
    checker.finish()
    return head


# Below this many records one reader finishes first: a spawned process is a fresh interpreter
# importing the package (about a second on an idle 2-core machine, ten or more under load)
# before it reads a record. The crossover measured with bench/audit.py is in
# docs/benchmarks.md ("Audit verify: when to spawn").
PARALLEL_MIN_RECORDS = 100_000


def default_jobs() -> int:
    return os.cpu_count() or 1


def jobs_for(records: int, requested: int | None = None) -> int:
    """Processes to verify a topic of `records` records with: as many as requested, else
    one below PARALLEL_MIN_RECORDS and one per core from there."""
    if requested is not None:
        return requested
    return default_jobs() if records >= PARALLEL_MIN_RECORDS else 1


@dataclass
class ShardResult:
    """What one process found on its partitions: the finished checker and the head."""

    checker: ChainChecker
    head: int


def scan_topic_parallel(
    kafka: KafkaSettings,
    checker: ChainChecker,
    *,
    jobs: int,
    progress: Progress = _no_progress,
    liveness: Liveness | None = None,
) -> int:
    """`scan_topic` with the partitions shared among `jobs` processes; the same findings.

    The range (every partition's end offset) is fixed here, once, before the processes
    start. Should a complaint's records turn up in two processes' partitions (only a
    record forged under another partition's key can do that), the results cannot simply
    be joined: the topic is then checked again by one reader, and that is the answer.
    """
    ends = _fix_range(kafka)
    shards = _shards(ends, jobs)
    if len(shards) <= 1:
        return scan_topic(kafka, checker, progress=progress, liveness=liveness)
    results: list[ShardResult] = []
    spawn = multiprocessing.get_context("spawn")  # no fork of a process running threads
    with ProcessPoolExecutor(max_workers=len(shards), mp_context=spawn) as pool:
        futures = [pool.submit(scan_shard, kafka, shard, liveness) for shard in shards]
        for future in as_completed(futures):
            result = future.result()
            progress(result.checker.events)
            results.append(result)
    seen = Counter(cid for r in results for cid in r.checker.chains)
    shared = sorted(cid for cid, n in seen.items() if n > 1)
    if shared:
        log.warning("audit.chains_across_partitions", complaints=shared[:10], count=len(shared))
        return scan_topic(kafka, checker, progress=_no_progress, liveness=liveness)
    for result in sorted(results, key=lambda r: min(_partitions(r.checker), default=-1)):
        checker.chains.update(result.checker.chains)
        checker.findings += result.checker.findings
        checker.events += result.checker.events
    return max((r.head for r in results), default=0)


def _partitions(checker: ChainChecker) -> set[int]:
    return {c.partition for c in checker.chains.values() if c.partition is not None}


def _fix_range(kafka: KafkaSettings) -> dict[TopicPartition, int]:
    consumer = _reader(kafka)
    try:
        return dict(assign_range(consumer, kafka.topic).ends)
    finally:
        consumer.close()


def _shards(ends: Mapping[TopicPartition, int], jobs: int) -> list[dict[TopicPartition, int]]:
    """Round-robin the non-empty partitions over at most `jobs` shards."""
    busy = sorted((tp for tp, end in ends.items() if end > 0), key=lambda tp: tp.partition)
    count = max(1, min(jobs, len(busy)))
    shards: list[dict[TopicPartition, int]] = [{} for _ in range(count)]
    for i, tp in enumerate(busy):
        shards[i % count][tp] = ends[tp]
    return [shard for shard in shards if shard]


def scan_shard(
    kafka: KafkaSettings, ends: Mapping[TopicPartition, int], liveness: Liveness | None
) -> ShardResult:
    """In a worker process: check `ends`' partitions from their beginning to those ends."""
    checker = ChainChecker("topic")
    upto = UpTo(ends=dict(ends))
    loop = ConsumerLoop(
        f"audit of {kafka.topic} partitions {sorted(tp.partition for tp in ends)}",
        _shard_opener(kafka, upto.ends),
        liveness=liveness or kafka.liveness,
        max_records=10_000,
    )
    head = 0
    with loop:
        for batch in loop.batches(until=upto.reached):
            for tp, records in batch.items():
                for record in records:
                    if upto.within(tp, record.offset):
                        head = max(head, check_record(checker, tp.partition, record))
    checker.finish()
    return ShardResult(checker, head)


def _shard_opener(kafka: KafkaSettings, ends: Mapping[TopicPartition, int]) -> Opener:
    def open_consumer(resume: Mapping[TopicPartition, int]) -> KafkaConsumer:
        consumer = _reader(kafka)
        consumer.assign(list(ends))
        for tp in ends:
            if tp in resume:
                consumer.seek(tp, resume[tp])
            else:
                consumer.seek_to_beginning(tp)
        return consumer

    return open_consumer


def check_record(checker: ChainChecker, partition: int, record: Any) -> int:
    """Envelope, payload hash and chain of one record; returns its ce_position (or 0)."""
    attributes = header_map(record.headers)
    position_text = attributes.get("position", "")
    position = int(position_text) if position_text.isdigit() else None
    where = Where(position=position, partition=partition, offset=record.offset)
    key = record.key.decode("utf-8", "replace") if record.key else ""
    try:
        payload = json.loads(record.value)
    except (ValueError, TypeError):
        payload = None
    if not isinstance(payload, dict):
        version_text = attributes.get("complaintversion", "")
        version = int(version_text) if version_text.isdigit() else 0
        checker.unreadable(key, version, where, "record value is not a JSON object")
        return position or 0
    wrong = envelope_mismatches(key, attributes, payload)
    if wrong:
        cid, claimed = str(payload.get("complaint_id")), payload.get("version")
        checker.chain(cid)  # so the finding can name the complaint's tracking id
        checker.report(
            cid,
            claimed if isinstance(claimed, int) else 0,
            "forged",
            "record envelope disagrees with its payload: " + ", ".join(wrong),
            where,
        )
    checker.observe(payload, where, flagged=bool(wrong))
    return position or 0


def envelope_mismatches(key: str, attributes: dict[str, str], payload: dict[str, Any]) -> list[str]:
    """The CloudEvents attributes (and key) that do not say what the payload says."""
    cid, version = str(payload.get("complaint_id")), payload.get("version")
    expected = {
        "key": cid,
        "specversion": SPEC_VERSION,
        "id": ce_id(cid, version) if isinstance(version, int) else None,
        "type": ce_type(str(payload.get("type"))),
        "subject": payload.get("tracking_id"),
        "complaintversion": str(version),
        "eventhash": payload.get("event_hash"),
        "prevhash": payload.get("prev_hash"),
    }
    actual = {**attributes, "key": key}
    return [
        f"{'key' if name == 'key' else 'ce_' + name}={actual.get(name)!r} (payload: {want!r})"
        for name, want in expected.items()
        if actual.get(name) != want
    ]


# ------------------------------------------------------------------ the store
def store_total(recorder: ApplicationRecorder) -> int:
    return recorder.max_notification_id() or 0


def gaps_are_findings(recorder: ApplicationRecorder) -> bool:
    """False on PostgreSQL, whose sequences leave holes (see audit/store.py)."""
    from eventsourcing.postgres import PostgresApplicationRecorder  # ours subclasses it

    return not isinstance(recorder, PostgresApplicationRecorder)


# ------------------------------------------------------------------ agreement
def compare(topic: ChainChecker, store: ChainChecker, topic_head: int) -> tuple[list[Finding], int]:
    """Topic-vs-store findings, and how many stored events are simply not published yet."""
    both = ChainChecker("both")
    pending = 0
    for cid, stored in store.chains.items():
        published = topic.chains.get(cid)
        both.chains[cid] = stored  # for the tracking id in findings
        for version, digest in stored.present():
            where = stored.where(version)
            on_topic = published.slot(version) if published else ABSENT
            if on_topic == REPORTED:
                continue  # the topic pass already said what is wrong with it
            if on_topic == ABSENT:
                if (where.position or 0) > topic_head:
                    pending += 1
                    continue
                both.report(
                    cid,
                    version,
                    "missing",
                    f"stored at position {where.position} but not on the topic",
                    where,
                )
                continue
            assert published is not None
            at = published.where(version)
            if on_topic != digest:
                both.report(
                    cid,
                    version,
                    "modified",
                    f"topic (partition {at.partition} offset {at.offset}) has event_hash "
                    f"{on_topic.hex()[:16]}..., the store {digest.hex()[:16]}...",
                    where,
                )
            elif at.position != where.position:
                both.report(
                    cid,
                    version,
                    "modified",
                    f"ce_position {at.position} on the topic (partition {at.partition} offset "
                    f"{at.offset}), stored at position {where.position}",
                    where,
                )
    for cid, published in topic.chains.items():
        stored_chain = store.chains.get(cid)
        for version, _ in published.present():
            if stored_chain is not None and stored_chain.slot(version) != ABSENT:
                continue
            if stored_chain is not None and version < stored_chain.last_version:
                continue  # a hole in the store's chain: the store pass reported it missing
            both.chains.setdefault(cid, published)
            both.report(
                cid,
                version,
                "forged",
                "on the topic but not in the store (forged onto the topic, or deleted "
                "from the end of the store's history)",
                published.where(version),
            )
    return both.findings, pending


def verify(
    *,
    kafka: KafkaSettings | None,
    recorder: ApplicationRecorder | None,
    mapper: Mapper[Any] | None,
    progress: Progress = _no_progress,
    snapshots: SnapshotSource | None = None,
    checkpoint: Checkpoint | None = None,
    jobs: int = 1,
) -> AuditReport:
    """Verify the topic (if `kafka`, in `jobs` processes), the store (if `recorder`), and
    their agreement; the store's snapshots (if `snapshots`) and the store against a
    `checkpoint`."""
    started = time.perf_counter()
    report = AuditReport()
    topic = ChainChecker("topic")
    stored: store_pass.StoreScan | None = None
    if kafka is not None:
        if jobs > 1:
            report.topic_head = scan_topic_parallel(kafka, topic, jobs=jobs, progress=progress)
        else:
            report.topic_head = scan_topic(kafka, topic, progress=progress)
        report.topic_events = topic.events
        report.findings += topic.findings
    if recorder is not None and mapper is not None:
        stored = store_pass.scan(
            recorder, mapper, gaps_are_findings=gaps_are_findings(recorder), progress=progress
        )
        report.store_events = stored.complaints.events
        report.findings += stored.all_findings
        report.explained_gaps = stored.explained_gaps
        report.explained_numbers = stored.explained_numbers
        report.unchained_directory_events = stored.unchained_directory_events
        if snapshots is not None:
            findings, report.snapshots_checked = check_snapshots(snapshots)
            report.findings += findings
        if checkpoint is not None:
            report.findings += compare_checkpoint(checkpoint, stored)
            report.checkpoint_position = checkpoint.position
    if kafka is not None and stored is not None:
        agreement, report.not_yet_published = compare(topic, stored.complaints, report.topic_head)
        report.findings += agreement
    report.seconds = time.perf_counter() - started
    return report
