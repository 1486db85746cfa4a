"""`audit verify --topic-only` throughput beside a raw kafka-python consumer, same topic, same run.

    .venv/bin/python bench/audit.py [--events 570000] [--bootstrap HOST:PORT] [--repeats 2]
                                    [--jobs N] [--json]

The topic: the complaint store of bench/relay.py (built with the domain API, cached as
var/bench/relay-store-<N>-v1.sqlite3), relayed once into `bench.audit.<N>-v1` (6
partitions) and kept between runs: a later run reuses it when its committed record count
matches the store.

Cases, alternating over the repeats, median reported:
  audit   lapor_es.audit.verify.verify(kafka=..., recorder=None, jobs=N): read_committed,
          manual assignment of all partitions from offset 0, envelope + payload hash + chain
          checks, the partitions shared by N processes (default: cores; issue 11)
  audit/1 the same with jobs=1 (one reader, the figure before issue 11)
  raw     a bare KafkaConsumer with the same settings (read_committed, same fetch sizes,
          manual assignment, offset 0) that only counts records up to the same end offsets
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.crc import crc_implementation
from bench.relay import open_store
from lapor_es.audit.verify import verify
from lapor_es.kafka.relay import Relay, committed_position
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.logging import configure_logging

PARTITIONS = 6


def bench_topic(bootstrap: str, events: int) -> tuple[KafkaSettings, int]:
    """The cached bench topic (relayed on first use); returns it and its event count."""
    kafka = KafkaSettings(
        bootstrap=bootstrap,
        topic=f"bench.audit.{events}-v1",
        partitions=PARTITIONS,
        transactional_id=f"bench.audit.{events}-v1.txn",
        client_id="lapor-bench-audit",
    )
    with open_store("sqlite", events, None) as (lapor, store):
        if committed_position(kafka) < store.events:
            print(f"relaying {store.events} events into {kafka.topic} ...", flush=True)
            t0 = time.perf_counter()
            Relay(lapor.recorder, lapor.mapper, kafka, batch_size=2000).run(follow=False)
            print(f"  relayed in {time.perf_counter() - t0:.0f} s", flush=True)
        return kafka, store.events


def raw_count(kafka: KafkaSettings) -> tuple[int, float]:
    consumer = KafkaConsumer(
        bootstrap_servers=kafka.bootstrap,
        group_id=None,
        enable_auto_commit=False,
        isolation_level="read_committed",
        max_partition_fetch_bytes=4 * 1024 * 1024,
        fetch_max_bytes=32 * 1024 * 1024,
    )
    try:
        t0 = time.perf_counter()
        tps = [
            TopicPartition(kafka.topic, p)
            for p in sorted(consumer.partitions_for_topic(kafka.topic))
        ]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(tps)
        seen = 0
        while any(consumer.position(tp) < ends[tp] for tp in tps):
            for tp, records in consumer.poll(timeout_ms=500, max_records=10_000).items():
                seen += sum(1 for r in records if r.offset < ends[tp])
        return seen, time.perf_counter() - t0
    finally:
        consumer.close()


def audit_run(kafka: KafkaSettings, jobs: int) -> tuple[int, float, int]:
    t0 = time.perf_counter()
    report = verify(kafka=kafka, recorder=None, mapper=None, jobs=jobs)
    return report.topic_events or 0, time.perf_counter() - t0, len(report.findings)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=570_000)
    parser.add_argument("--bootstrap", default="127.0.0.1:59092")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("json", "warning")
    print(f"kafka-python CRC-32C: {crc_implementation()}", flush=True)
    kafka, events = bench_topic(args.bootstrap, args.events)
    audit_s: list[float] = []
    serial_s: list[float] = []
    raw_s: list[float] = []
    for repeat in range(args.repeats):
        n, seconds, findings = audit_run(kafka, args.jobs)
        assert n == events and findings == 0, (n, events, findings)
        audit_s.append(seconds)
        n, seconds, findings = audit_run(kafka, 1)
        assert n == events and findings == 0, (n, events, findings)
        serial_s.append(seconds)
        m, seconds = raw_count(kafka)
        assert m == events, (m, events)
        raw_s.append(seconds)
        print(
            f"repeat {repeat + 1}: audit {events / audit_s[-1]:,.0f} ev/s "
            f"(jobs={args.jobs}), audit/1 {events / serial_s[-1]:,.0f} ev/s, "
            f"raw {events / raw_s[-1]:,.0f} ev/s",
            flush=True,
        )
    audit_rate = events / statistics.median(audit_s)
    serial_rate = events / statistics.median(serial_s)
    raw_rate = events / statistics.median(raw_s)
    ratios = [r / a for a, r in zip(audit_s, raw_s, strict=True)]
    print(
        f"\n{events:,} events on {kafka.topic} ({PARTITIONS} partitions), median of {args.repeats}"
    )
    audit_median, raw_median = statistics.median(audit_s), statistics.median(raw_s)
    print(
        f"  audit verify --jobs {args.jobs:<6} {audit_rate:>10,.0f} events/s"
        f"  ({audit_median:.1f} s)"
    )
    print(f"  audit verify --jobs 1      {serial_rate:>10,.0f} events/s")
    print(f"  raw kafka-python consumer  {raw_rate:>10,.0f} events/s  ({raw_median:.1f} s)")
    print(
        f"  ratio audit/raw            {audit_rate / raw_rate:.2f}"
        f"  [{min(ratios):.2f}-{max(ratios):.2f}]"
    )
    if args.json:
        print(
            json.dumps(
                {
                    "events": events,
                    "jobs": args.jobs,
                    "audit_events_per_s": audit_rate,
                    "audit_jobs1_events_per_s": serial_rate,
                    "crc32c": crc_implementation(),
                    "raw_events_per_s": raw_rate,
                    "ratio": audit_rate / raw_rate,
                    "audit_s": audit_s,
                    "raw_s": raw_s,
                    "python": platform.python_version(),
                    "kafka_python": version("kafka-python"),
                }
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
