"""Scale-out (issue 11): one projector process against two in one consumer group, same records.

    .venv/bin/python bench/scaleout.py [--complaints N] [--bootstrap HOST:PORT]
                                       [--postgres URL] [--json]

Over the topic bench/projections.py relays from its cached store of N simulated complaints
(6 partitions), in the same run:

- raw: a bare kafka-python consumer (read_committed, all partitions, from the beginning)
  counting the records: the best the client does on this broker;
- one: `lapor-es project --from-kafka --follow` (exactly-once: offsets tracked in the read-model
  transaction), a fresh group, into a fresh PostgreSQL database (migrated before timing);
- two: two such processes in one fresh group, into another fresh database.

Each case is timed from launching its processes until every read model has applied every
event (the sum of claimed versions per model, polled in the database), so process start,
group join and rebalance are inside the figure. The `settled` figures start at the last
assignment that gave a member partitions (from the members' logs): the rate of the group once
it has formed, without the start-up (and, for two, the rebalance when the second joins).
Ratio: two / one (target >= 1.5). Every figure is beside the raw consumer's rate and the
load average (2 cores shared by other work make the figures noisy).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime
from pathlib import Path
from typing import IO, Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.crc import crc_implementation
from bench.projections import build_store, count_records, ensure_topic, fresh_database
from lapor_es.bootstrap import projection_engine_at, read_model_service
from lapor_es.config import Settings
from lapor_es.projections.core import versions

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("complaints", "inbox", "timeline", "deadlines")
POLL_S = 0.25  # how often the database is asked how far the projectors are
DEADLINE_S = 1800.0


def applied(url: str) -> int:
    """Events applied by the slowest model: each model claims each complaint's versions once,
    so the sum of its claimed versions is the number of events it applied."""
    engine = projection_engine_at(url)
    try:
        with engine.connect() as conn:
            if not engine.dialect.has_table(conn, versions.name):
                return 0
            query = select(versions.c.projection, func.sum(versions.c.version)).group_by(
                versions.c.projection
            )
            sums: dict[str, int] = {str(name): int(n or 0) for name, n in conn.execute(query)}
    finally:
        engine.dispose()
    return min(sums.get(name, 0) for name in MODELS)


def migrate(url: str, bootstrap: str, topic: str) -> None:
    """Create the read models' tables before timing: schema creation is not throughput."""
    settings = Settings(
        database_url=url, kafka_bootstrap=bootstrap, kafka_topic=topic, reporter_pepper="bench"
    )
    with read_model_service(settings) as read_models:
        read_models.open_projector(read_models.models())


def launch(url: str, bootstrap: str, topic: str, group: str, log: IO[str]) -> subprocess.Popen[str]:
    env = os.environ | {
        "LAPOR_DATABASE_URL": url,
        "LAPOR_REPORTER_PEPPER": "bench",
        "LAPOR_KAFKA_BOOTSTRAP": bootstrap,
        "LAPOR_KAFKA_TOPIC": topic,
        "LAPOR_LOG_FORMAT": "json",
        "LAPOR_LOG_LEVEL": "info",
    }
    command = [sys.executable, "-m", "lapor_es.cli", "project", "--from-kafka", "--follow"]
    return subprocess.Popen(
        [*command, "--group-id", group],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        text=True,
    )


def assignments(log: Path) -> list[tuple[float, list[int]]]:
    """(wall-clock time, partitions) of each assignment the member's log shows."""
    out = []
    for line in log.read_text().splitlines():
        if '"projector.assigned"' in line:
            entry = json.loads(line)
            at = datetime.fromisoformat(entry["timestamp"].replace("Z", "+00:00")).timestamp()
            out.append((at, entry["partitions"]))
    return out


def run_case(
    processes: int, bootstrap: str, topic: str, server: str, events: int
) -> dict[str, Any]:
    """`processes` projector processes in one fresh group until every event is applied."""
    group = f"bench-scaleout-{uuid.uuid4().hex[:8]}"
    with fresh_database(server) as url:
        migrate(url, bootstrap, topic)
        logs = [ROOT / "var" / "bench" / f"{group}-{i}.log" for i in range(processes)]
        load = os.getloadavg()[0]
        files = [log.open("w") for log in logs]
        t0 = time.time()
        members = [launch(url, bootstrap, topic, group, file) for file in files]
        samples: list[tuple[float, int]] = []  # (wall-clock time, events applied)
        try:
            while (done := applied(url)) < events:
                samples.append((time.time(), done))
                for member in members:
                    if member.poll() is not None:
                        raise RuntimeError(f"a projector exited: {logs[0].read_text()[-2000:]}")
                if time.time() - t0 > DEADLINE_S:
                    raise RuntimeError(f"{done} of {events} events applied in {DEADLINE_S} s")
                time.sleep(POLL_S)
            finished = time.time()
        finally:
            for member in members:
                member.send_signal(signal.SIGTERM)
            for member, file in zip(members, files, strict=True):
                member.wait(timeout=120)
                file.close()
        held = [assignments(log) for log in logs]
    # The group has settled at the last assignment that gave a member partitions; the
    # settled rate counts the events applied from the sample before it to the end.
    settled = max((at for member in held for at, parts in member if parts), default=t0)
    before = [done for at, done in samples if at <= settled]
    settled_events = events - (before[-1] if before else 0)
    return {
        "processes": processes,
        "seconds": finished - t0,
        "per_s": events / (finished - t0),
        "settled_after_s": settled - t0,  # start-up, joins and rebalances
        "settled_per_s": settled_events / (finished - settled),
        "assignments": [[parts for _, parts in member] for member in held],
        "logs": [str(log) for log in logs],
        "load_average_at_start": load,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--complaints", type=int, default=3000)
    ap.add_argument("--bootstrap", default="127.0.0.1:59092")
    ap.add_argument("--postgres", default="postgresql://lapor:lapor@127.0.0.1:55432/lapor")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    # Stopped (timeout, Ctrl-C): still stop the projectors and drop the databases.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    print(f"nproc={os.cpu_count()}, CRC-32C: {crc_implementation()}")
    store, events = build_store(args.complaints)
    topic = ensure_topic(store, args.complaints, args.bootstrap, events)
    t0 = time.perf_counter()
    counted = count_records(args.bootstrap, topic)
    raw_s = time.perf_counter() - t0
    assert counted == events, (counted, events)
    raw = events / raw_s
    one = run_case(1, args.bootstrap, topic, args.postgres, events)
    two = run_case(2, args.bootstrap, topic, args.postgres, events)
    out = {
        "complaints": args.complaints,
        "events": events,
        "topic": topic,
        "raw_per_s": raw,
        "one": one,
        "two": two,
        "ratio": two["per_s"] / one["per_s"],
        "settled_ratio": two["settled_per_s"] / one["settled_per_s"],
        "load_average_at_end": os.getloadavg()[0],
    }
    print(f"{events} events, topic {topic}; raw read_committed consumer {raw:,.0f} ev/s")
    for case in (one, two):
        print(
            f"{case['processes']} process(es): {case['per_s']:8,.0f} ev/s ({case['seconds']:.1f} s)"
            f", settled after {case['settled_after_s']:.1f} s: {case['settled_per_s']:8,.0f} ev/s; "
            f"vs raw {case['per_s'] / raw:.3f}; "
            f"load {case['load_average_at_start']:.1f}; partitions {case['assignments']}"
        )
    print(f"two / one: {out['ratio']:.2f} (settled {out['settled_ratio']:.2f})")
    if args.json:
        json.dump(out, sys.stdout, indent=2)
        print()


if __name__ == "__main__":
    main()
