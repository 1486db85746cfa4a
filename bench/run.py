"""`make bench`: every benchmark, one table, bench/results.json (issue 11).

    .venv/bin/python bench/run.py [--quick] [--only NAME,...] [--bootstrap HOST:PORT]
                                  [--database-url URL] [--extra NAME=ARGS ...]

Runs each bench/*.py as a subprocess with --json, takes its figures, each beside the raw
baseline it measured in the same run, and writes bench/results.json:
{"quick": ..., "machine": ..., "figures": [{"bench", "figure", "value", "unit", "baseline",
"baseline_value", "ratio"}], "failures": {...}}. --quick uses small sizes (a few minutes);
the full sizes are each benchmark's own defaults. A benchmark that fails is reported and
the others still run. Figures from a loaded machine say so: the load average is recorded.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.crc import crc_implementation

BENCH = Path(__file__).resolve().parent
Row = dict[str, Any]


def row(bench: str, figure: str, value: float, unit: str, baseline: str, base: float) -> Row:
    return {
        "bench": bench,
        "figure": figure,
        "value": value,
        "unit": unit,
        "baseline": baseline,
        "baseline_value": base,
        "ratio": value / base if base else None,
    }


def commands_rows(doc: dict[str, Any]) -> list[Row]:
    out = []
    for r in doc["results"]:
        lapor = r.get("lapor_rate") or r.get("lapor_per_s") or r.get("lapor")
        raw = r.get("raw_rate") or r.get("raw_per_s") or r.get("raw")
        if isinstance(lapor, int | float) and isinstance(raw, int | float):
            label = f"{r.get('case')} ({r.get('store')})"
            out.append(row("commands", label, lapor, "events/s", "raw eventsourcing", raw))
    return out


def relay_rows(doc: dict[str, Any]) -> list[Row]:
    tp = doc["throughput"]
    raw = tp["raw producer"]["events_per_s"]
    out = [
        row("relay", case, t["events_per_s"], "events/s", "raw producer", raw)
        for case, t in tp.items()
        if case != "raw producer"
    ]
    for case, lat in doc.get("latency_ms", {}).items():
        out.append(row("relay", f"latency p50: {case}", lat["p50"], "ms", "", 0))
    return out


def audit_rows(doc: dict[str, Any]) -> list[Row]:
    raw = doc["raw_events_per_s"]
    return [
        row("audit", f"verify --jobs {doc['jobs']}", doc["audit_events_per_s"], "events/s",
            "raw read_committed consumer", raw),
        row("audit", "verify --jobs 1", doc["audit_jobs1_events_per_s"], "events/s",
            "raw read_committed consumer", raw),
    ]  # fmt: skip


def projections_rows(doc: dict[str, Any]) -> list[Row]:
    events = doc["events"]
    out = []
    if s := doc.get("sqlite"):
        out.append(row("projections", "in-process, all models, SQLite", events / s["seconds"],
                       "events/s", "raw sqlite3 INSERT", events / s["raw_seconds"]))  # fmt: skip
        if slow := s.get("per_event_seconds"):  # the set-based projector's slow path
            out.append(row("projections", "in-process, per-event slow path, SQLite",
                           events / slow, "events/s", "raw sqlite3 INSERT",
                           events / s["raw_seconds"]))  # fmt: skip
    if k := doc.get("kafka_postgres"):
        rate, raw = events / k["seconds"], events / k["raw_seconds"]
        out.append(row("projections", "Kafka -> PostgreSQL, exactly-once", rate, "events/s",
                       "raw read_committed consumer", raw))  # fmt: skip
    if g := doc.get("scale_out"):
        out.append(row("projections", "two projector processes, one group", g["two_per_s"],
                       "events/s", "one process", g["one_per_s"]))  # fmt: skip
    return out


def scaleout_rows(doc: dict[str, Any]) -> list[Row]:
    one, two, raw = doc["one"], doc["two"], doc["raw_per_s"]
    return [
        row("scaleout", "two projector processes, one group", two["per_s"], "events/s",
            "one process", one["per_s"]),
        row("scaleout", "two processes, once the group settled", two["settled_per_s"],
            "events/s", "one process, settled", one["settled_per_s"]),
        row("scaleout", "one projector process (Kafka -> PostgreSQL)", one["per_s"], "events/s",
            "raw read_committed consumer", raw),
    ]  # fmt: skip


def wake_rows(doc: dict[str, Any]) -> list[Row]:
    wake, poll = doc["wake"], doc["poll"]
    return [
        row("wake", "relay idle queries/min (wake)", wake["relay_idle_queries_per_min"], "/min",
            "poll", poll["relay_idle_queries_per_min"]),
        row("wake", "runner idle queries/min (wake)", wake["runner_idle_queries_per_min"], "/min",
            "poll", poll["runner_idle_queries_per_min"]),
        row("wake", "filing -> topic p50 (wake)", wake["latency"]["p50_ms"], "ms",
            "poll", poll["latency"]["p50_ms"]),
        row("wake", "filing -> topic p95 (wake)", wake["latency"]["p95_ms"], "ms",
            "poll", poll["latency"]["p95_ms"]),
    ]  # fmt: skip


def api_rows(doc: dict[str, Any]) -> list[Row]:
    out = []
    for level in doc["throughput"]:
        out.append(row("api", f"HTTP filings, {level['clients']} clients", level["http"]["rate"],
                       "filings/s", "LaporApp.handle", level["handle"]["rate"]))  # fmt: skip
    return out


# name -> (arguments full, arguments quick, rows)
Plan = tuple[list[str], list[str], Callable[[dict[str, Any]], list[Row]]]


def plans(bootstrap: str, pg: str) -> dict[str, Plan]:
    kafka = ["--bootstrap", bootstrap]
    return {
        "commands": ([], ["--complaints", "100", "--repeats", "2"], commands_rows),
        "relay": ([*kafka, "--database-url", pg],
                  [*kafka, "--events", "5000", "--repeats", "1", "--samples", "15"], relay_rows),
        "audit": (kafka, [*kafka, "--events", "5000", "--repeats", "1"], audit_rows),
        "projections": ([*kafka, "--postgres", pg],
                        [*kafka, "--postgres", pg, "--complaints", "300"],
                        projections_rows),
        "scaleout": ([*kafka, "--postgres", pg],
                     [*kafka, "--postgres", pg, "--complaints", "300"], scaleout_rows),
        "wake": ([*kafka, "--database-url", pg],
                 [*kafka, "--database-url", pg, "--idle-seconds", "5", "--samples", "10"],
                 wake_rows),
        "api": (["--database-url", pg], ["--database-url", pg, "--quick"], api_rows),
    }  # fmt: skip


def last_json(stdout: str) -> dict[str, Any]:
    """The JSON document a benchmark printed last (one line, or indented over many)."""
    lines = stdout.splitlines()
    for i in range(len(lines) - 1, -1, -1):
        if lines[i].startswith("{"):
            try:
                doc: dict[str, Any] = json.loads("\n".join(lines[i:]))
                return doc
            except ValueError:
                continue
    raise ValueError("no JSON document in the output")


def run_one(name: str, args: list[str]) -> dict[str, Any]:
    command = [sys.executable, str(BENCH / f"{name}.py"), *args, "--json"]
    print(f"== {name}: {' '.join(command[1:])}", flush=True)
    t0 = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    print(f"   {time.perf_counter() - t0:.0f} s, exit {done.returncode}", flush=True)
    if done.returncode != 0:
        raise RuntimeError(f"exit {done.returncode}: {done.stderr.strip()[-2000:]}")
    return last_json(done.stdout)


def table(rows: list[Row]) -> str:
    lines = [f"{'bench':12} {'figure':44} {'value':>12} {'unit':10} {'baseline':30} {'ratio':>7}"]
    for r in rows:
        ratio = f"{r['ratio']:.2f}" if r["ratio"] is not None else "-"
        base = f"{r['baseline']} {r['baseline_value']:,.0f}" if r["baseline"] else ""
        lines.append(
            f"{r['bench']:12} {r['figure'][:44]:44} {r['value']:12,.1f} {r['unit']:10} "
            f"{base[:30]:30} {ratio:>7}"
        )
    return "\n".join(lines)


def tool(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout.strip()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes: a few minutes")
    parser.add_argument("--only", help="comma-separated benchmark names")
    parser.add_argument("--bootstrap", help="Kafka (default: deploy/kafka/broker bootstrap)")
    parser.add_argument("--database-url", help="PostgreSQL server (default: deploy/postgres)")
    parser.add_argument("--out", default=str(BENCH / "results.json"))
    parser.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="NAME=ARGS",
        help="more arguments for one benchmark, after its own (the last of a repeated option "
        "wins), e.g. --extra 'relay=--events 60000'; repeatable",
    )
    args = parser.parse_args(argv)
    extra: dict[str, list[str]] = {}
    for item in args.extra:
        name, _, more = item.partition("=")
        extra.setdefault(name, []).extend(shlex.split(more))
    root = BENCH.parent
    bootstrap = args.bootstrap or tool(str(root / "deploy" / "kafka" / "broker"), "bootstrap")
    pg = args.database_url or tool(str(root / "deploy" / "postgres" / "pg"), "url")
    chosen = plans(bootstrap, pg)
    if args.only:
        chosen = {k: v for k, v in chosen.items() if k in args.only.split(",")}
    rows: list[Row] = []
    failures: dict[str, str] = {}
    raw_docs: dict[str, Any] = {}
    load_before = os.getloadavg()[0]
    for name, (full, quick, to_rows) in chosen.items():
        try:
            doc = run_one(name, [*(quick if args.quick else full), *extra.get(name, [])])
            raw_docs[name] = doc
            rows += to_rows(doc)
        except Exception as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
            print(f"   FAILED: {failures[name][:500]}", flush=True)
    result = {
        "quick": args.quick,
        "extra": extra,
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "kafka_python_crc32c": crc_implementation(),
            "load_average_at_start": load_before,
            "load_average_at_end": os.getloadavg()[0],
        },
        "figures": rows,
        "failures": failures,
        "outputs": raw_docs,
    }
    Path(args.out).write_text(json.dumps(result, indent=2, default=str) + "\n")
    print()
    print(table(rows))
    print(f"\nCRC-32C: {crc_implementation()}; load average {load_before:.1f} at start")
    if failures:
        print("failed: " + ", ".join(failures))
    print(f"written: {args.out}")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
