"""The fault soak (issue 12): every fault of tests/support/soak.py repeated, with traffic
flowing, each repeat ending with the full check; the matrix printed and kept in JSON.

    .venv/bin/python bench/faults.py [--repeats 20] [--quick] [--only NAME ...]
                                     [--seed 1] [--out bench/faults.json]
    .venv/bin/python bench/faults.py --merge part1.json part2.json [--out bench/faults.json]

The soak starts a PostgreSQL and a Kafka broker of its own (free ports, a temp dir) because
it restarts them; it never touches the shared servers, and stops and wipes its own at the end.
Repeats go round the matrix (repeat 1 of every fault, then repeat 2, ...), and the JSON is
rewritten after every repeat, so a run cut short still reports an even matrix.
`--quick` is two repeats. Two runs may share the matrix between them (`--only`, each with
its own servers and `--out`); `--merge` then joins their JSON into one. Exit status 1 if
any repeat lost, duplicated or reordered anything, or failed its check.
"""

from __future__ import annotations

import argparse
import json
import signal
import statistics
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lapor_es.logging import configure_logging
from tests.support.projections import dispose_engines
from tests.support.soak import FAULTS, Outcome, lab, soak_once

COUNTS = ("lost", "duplicated", "out_of_order", "read_model_mismatches", "side_effect_duplicates")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="two repeats")
    parser.add_argument("--only", action="append", choices=sorted(FAULTS), help="repeatable")
    parser.add_argument("--seed", type=int, default=1, help="first repeat's random seed")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("faults.json"))
    parser.add_argument("--merge", type=Path, nargs="+", help="join these runs' JSON into --out")
    args = parser.parse_args()
    if args.merge:
        return merge(args.merge, args.out)
    repeats = 2 if args.quick else args.repeats
    faults = args.only or list(FAULTS)
    # SIGTERM (a `timeout`, an operator) unwinds like Ctrl-C: the soak's servers are stopped.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    configure_logging("console", "warning")  # the library's own info lines are not the soak
    outcomes: list[Outcome] = []
    started = datetime.now(UTC)
    with tempfile.TemporaryDirectory(prefix="lapor-soak-") as tmp, lab(Path(tmp)) as servers:
        for repeat in range(repeats):
            for fault in faults:
                t0 = time.monotonic()
                outcome = soak_once(servers, fault, seed=args.seed + repeat)
                dispose_engines()
                outcomes.append(outcome)
                print(
                    f"[{repeat + 1}/{repeats}] {fault}: {'ok' if outcome.clean else 'FAILED'} "
                    f"recover {outcome.recover_s:.2f}s, {time.monotonic() - t0:.0f}s in all"
                    + (f" -- {outcome.error}" if outcome.error else ""),
                    flush=True,
                )
                write(args.out, started, repeats, outcomes)
    print(table(matrix(outcomes)))
    return 0 if all(o.clean for o in outcomes) else 1


def merge(parts: list[Path], out: Path) -> int:
    reports = [json.loads(part.read_text()) for part in parts]
    outcomes = [Outcome(**row) for report in reports for row in report["repeats"]]
    started = min(datetime.fromisoformat(r["started"]) for r in reports)
    write(out, started, max(r["repeats_asked"] for r in reports), outcomes)
    print(table(matrix(outcomes)))
    return 0 if all(o.clean for o in outcomes) else 1


def matrix(outcomes: list[Outcome]) -> list[dict[str, Any]]:
    """One row per fault: repeats, the sums of every count, recovery p50 and max."""
    rows = []
    for fault in dict.fromkeys(o.fault for o in outcomes):
        mine = [o for o in outcomes if o.fault == fault]
        recover = [o.recover_s for o in mine if o.error is None]
        rows.append(
            {
                "fault": fault,
                "repeats": len(mine),
                "events_checked": sum(o.events for o in mine),
                **{count: sum(getattr(o, count) for o in mine) for count in COUNTS},
                "failed_checks": sum(1 for o in mine if o.error),
                "worker_exits": sum(o.worker_exits for o in mine),
                "recover_p50_s": round(statistics.median(recover), 2) if recover else None,
                "recover_max_s": max(recover) if recover else None,
            }
        )
    return rows


def write(out: Path, started: datetime, repeats: int, outcomes: list[Outcome]) -> None:
    report = {
        "started": started.isoformat(timespec="seconds"),
        "updated": datetime.now(UTC).isoformat(timespec="seconds"),
        "repeats_asked": repeats,
        "matrix": matrix(outcomes),
        "repeats": [asdict(o) for o in outcomes],
    }
    out.write_text(json.dumps(report, indent=1) + "\n")


COLUMNS = ("fault", "repeats", "events_checked", *COUNTS, "failed_checks", "worker_exits",
           "recover_p50_s", "recover_max_s")  # fmt: skip


def table(rows: list[dict[str, Any]]) -> str:
    lines = [" | ".join(COLUMNS)]
    for r in rows:
        lines.append(" | ".join(str(r[column]) for column in COLUMNS))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
