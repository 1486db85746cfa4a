"""Command throughput of LaporApp beside a raw eventsourcing baseline, on SQLite and PostgreSQL.

    .venv/bin/python bench/commands.py [--store sqlite|postgres|both] [--complaints N]
                                       [--database-url URL] [--repeats R] [--json] [--profile]

Cases (each on a fresh database, lapor and raw measured alternately in the same run):
  file        N filings through LaporApp.handle(parse_command(...)), distinct reporter phones
  file+key    the same with an idempotency key on each filing
  lifecycle   N complaints: file -> verify -> forward (to a unit) -> start -> respond final
              -> reply confirm (6 commands, 8 complaint events)
The raw baseline is a minimal eventsourcing Application with a trivial aggregate, on the
same persistence env (eventsourcing's own recorder), writing the same complaint events in
the same number of saves. The figure reported per case is the median over the repeats.

    .venv/bin/python bench/commands.py --concurrent 1,2,4,8 [--complaints N]

Concurrent filers (PostgreSQL): P processes each file N complaints at once into one fresh
database, beside P processes each saving N new trivial aggregates; reports filings/s,
retries (lost optimistic-concurrency races, each a back-off) and refusals per P. Retries
are counted while the filings are timed (after each process's warm-up filing); the retries
of the writers' closing block releases, all at once at the end, are reported apart.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import platform
import pstats
import queue
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.commands import parse_command
from lapor_es.config import Settings, eventsourcing_env
from lapor_es.logging import configure_logging

REPO = Path(__file__).resolve().parent.parent
DESK = {"id": "desk", "role": "national_admin"}
# Events each lifecycle command appends to the complaint (checked against the versions).
LIFECYCLE_EVENTS = (1, 2, 1, 1, 1, 2)  # file, verify(+forward), forward, start, respond, reply
WARMUP = 10


# ------------------------------------------------------------------ command builders
def agency_actor(code: str) -> dict[str, str]:
    return {"id": f"staff-{code}", "role": "agency_admin", "agency": code}


def file_cmd(i: int, key: str | None = None) -> dict[str, Any]:
    command: dict[str, Any] = {
        "command": "file",
        "actor": {"id": "web-session", "role": "reporter"},
        "channel": "web",
        "title": "Air PDAM tidak mengalir",
        "description": "Sudah dua minggu air PDAM tidak mengalir di perumahan kami.",
        "category": "Air Bersih",
        "reporter": {"name": "Dewi Lestari", "phone": f"0812{i:08d}"},
    }
    if key:
        command["idempotency_key"] = key
    return command


def small_directory(lapor: LaporApp) -> None:
    rows = [
        ("LAPOR", "national_desk", None),
        ("KEMENKES", "ministry", "LAPOR"),
        ("KEMENKES.YANKES", "unit", "KEMENKES"),
    ]
    lapor.register_agencies(
        [
            parse_command(  # type: ignore[misc]
                {
                    "command": "register_agency",
                    "actor": DESK,
                    "code": code,
                    "name": f"Agency {code}",
                    "kind": kind,
                    "parent": parent,
                }
            )
            for code, kind, parent in rows
        ]
    )


def lifecycle(lapor: LaporApp, i: int) -> None:
    """One complaint through its six commands; asserts the events each one appended."""
    filed = lapor.handle(parse_command(file_cmd(i)))
    tid, ref = filed.tracking_id, filed.reporter_ref
    steps: list[dict[str, Any]] = [
        {
            "command": "verify",
            "actor": DESK,
            "title": "Air tidak mengalir",
            "category": "Air Bersih",
            "kind": "complaint",
            "visibility": "public",
            "to_agency": "KEMENKES",
        },
        {"command": "forward", "actor": agency_actor("KEMENKES"), "to_agency": "KEMENKES.YANKES"},
        {"command": "start", "actor": agency_actor("KEMENKES.YANKES")},
        {
            "command": "respond",
            "actor": agency_actor("KEMENKES.YANKES"),
            "kind": "final",
            "text": "Pipa sudah diperbaiki",
        },
        {
            "command": "reply",
            "actor": {"id": ref, "role": "reporter"},
            "kind": "confirm",
            "text": "Sudah mengalir, terima kasih",
        },
    ]
    out = filed
    for step in steps:
        out = lapor.handle(parse_command({**step, "complaint": tid}))
    assert out.state == "RESOLVED" and out.version == sum(LIFECYCLE_EVENTS), out


# ------------------------------------------------------------------ raw baseline
class Thing(Aggregate):
    @event("Created")
    def __init__(self, name: str) -> None:
        self.name = name
        self.count = 0

    @event("Touched")
    def touch(self, note: str) -> None:
        self.count += 1


class RawApp(Application[UUID]):
    """The least an eventsourcing command handler does: create, or get-trigger-save."""

    name = "raw"

    def create(self, name: str) -> UUID:
        thing = Thing(name=name)
        self.save(thing)
        return thing.id

    def act(self, thing_id: UUID, events: int) -> None:
        thing: Thing = self.repository.get(thing_id)
        for _ in range(events):
            thing.touch(note="x" * 40)
        self.save(thing)


def raw_lifecycle(raw: RawApp, i: int) -> None:
    thing_id = raw.create(f"thing-{i}")
    for events in LIFECYCLE_EVENTS[1:]:
        raw.act(thing_id, events)


# ------------------------------------------------------------------ stores
@dataclass
class Store:
    name: str
    server_url: str | None = None  # PostgreSQL server (any database on it)

    @contextmanager
    def fresh(self) -> Iterator[Settings]:
        if self.server_url is None:
            with tempfile.TemporaryDirectory(prefix="lapor-bench-") as tmp:
                yield Settings(
                    database_url=f"sqlite:///{tmp}/bench.sqlite3", reporter_pepper="bench-pepper"
                )
            return
        import psycopg

        name = f"lapor_bench_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        try:
            url = self.server_url.rsplit("/", 1)[0] + "/" + name
            yield Settings(database_url=url, reporter_pepper="bench-pepper")
        finally:
            with psycopg.connect(self.server_url, autocommit=True) as conn:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def postgres_version(url: str) -> str:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def postgres_url(given: str | None) -> str:
    if given:
        return given
    if env := os.environ.get("LAPOR_BENCH_DATABASE_URL"):
        return env
    pg = REPO / "deploy" / "postgres" / "pg"
    subprocess.run([str(pg), "start"], check=True, capture_output=True)
    return subprocess.run(
        [str(pg), "url"], check=True, capture_output=True, text=True
    ).stdout.strip()


# ------------------------------------------------------------------ measurements
@dataclass
class Run:
    seconds: float
    commands: int
    events: int  # all events the run stored (lapor: every aggregate it touched)
    complaint_events: int  # events of the complaint / baseline aggregate only


def timed(body: Callable[[int], None], n: int, offset: int) -> float:
    start = time.perf_counter()
    for i in range(offset, offset + n):
        body(i)
    return time.perf_counter() - start


def run_lapor(settings: Settings, case: str, n: int, profile: cProfile.Profile | None) -> Run:
    lapor = open_app(settings)
    try:
        if case == "lifecycle":
            small_directory(lapor)
            body: Callable[[int], None] = lambda i: lifecycle(lapor, i)  # noqa: E731
            per = len(LIFECYCLE_EVENTS)
            complaint_events = sum(LIFECYCLE_EVENTS)
        else:
            keyed = case == "file+key"

            def body(i: int) -> None:
                key = f"bench-key-{i:08d}" if keyed else None
                lapor.handle(parse_command(file_cmd(i, key)))

            per, complaint_events = 1, 1
        for i in range(WARMUP):
            body(10_000_000 + i)
        before = lapor.recorder.max_notification_id() or 0
        if profile:
            profile.enable()
        seconds = timed(body, n, 0)
        if profile:
            profile.disable()
        after = lapor.recorder.max_notification_id() or 0
        return Run(seconds, n * per, after - before, n * complaint_events)
    finally:
        lapor.close()


def raw_env(settings: Settings) -> dict[str, str]:
    """eventsourcing's own recorder: the baseline does not write reporter keys."""
    env = eventsourcing_env(settings)
    env.pop("APPLICATION_RECORDER_TOPIC", None)
    return env


def run_raw(settings: Settings, case: str, n: int) -> Run:
    raw = RawApp(env=raw_env(settings))
    try:
        if case == "lifecycle":
            body: Callable[[int], None] = lambda i: raw_lifecycle(raw, i)  # noqa: E731
            per, events = len(LIFECYCLE_EVENTS), sum(LIFECYCLE_EVENTS)
        else:

            def body(i: int) -> None:
                raw.create(f"thing-{i}")

            per, events = 1, 1
        for i in range(WARMUP):
            body(10_000_000 + i)
        seconds = timed(body, n, 0)
        stored = (raw.recorder.max_notification_id() or 0) - WARMUP * events
        assert stored == n * events, (stored, n * events)
        return Run(seconds, n * per, n * events, n * events)
    finally:
        raw.close()


@dataclass
class Result:
    store: str
    case: str
    complaints: int
    repeats: int
    unit: str  # what the headline rate counts
    lapor_rate: float
    raw_rate: float
    ratio: float
    lapor_commands_per_s: float
    raw_commands_per_s: float
    lapor_events_per_s: float  # every stored event (complaint + sequence + reporter + key)
    lapor_complaint_events_per_s: float
    raw_events_per_s: float
    lapor_events_per_complaint: float
    ratio_min: float  # over the repeats, each lapor run paired with its raw run
    ratio_max: float
    lapor_seconds: list[float]
    raw_seconds: list[float]


def measure(store: Store, case: str, n: int, repeats: int) -> Result:
    laps: list[Run] = []
    raws: list[Run] = []
    for r in range(repeats):
        # Alternate the order so a noisy neighbour does not always hit the same side.
        order = ("lapor", "raw") if r % 2 == 0 else ("raw", "lapor")
        for side in order:
            with store.fresh() as settings:
                if side == "lapor":
                    laps.append(run_lapor(settings, case, n, None))
                else:
                    raws.append(run_raw(settings, case, n))
    lap_s = statistics.median(x.seconds for x in laps)
    raw_s = statistics.median(x.seconds for x in raws)
    lap, raw = laps[0], raws[0]
    per = len(LIFECYCLE_EVENTS) if case == "lifecycle" else 1
    lapor_rate, raw_rate = n / lap_s, n / raw_s
    pairs = [r.seconds / x.seconds for x, r in zip(laps, raws, strict=True)]
    return Result(
        store=store.name,
        case=case,
        complaints=n,
        repeats=repeats,
        unit="lifecycles/s" if case == "lifecycle" else "commands/s",
        lapor_rate=lapor_rate,
        raw_rate=raw_rate,
        ratio=lapor_rate / raw_rate,
        lapor_commands_per_s=n * per / lap_s,
        raw_commands_per_s=n * per / raw_s,
        lapor_events_per_s=lap.events / lap_s,
        lapor_complaint_events_per_s=lap.complaint_events / lap_s,
        raw_events_per_s=raw.events / raw_s,
        lapor_events_per_complaint=lap.events / n,
        ratio_min=min(pairs),
        ratio_max=max(pairs),
        lapor_seconds=[round(x.seconds, 4) for x in laps],
        raw_seconds=[round(x.seconds, 4) for x in raws],
    )


def profile_store(store: Store, n: int, top: int) -> str:
    out = io.StringIO()
    for case in ("file", "lifecycle"):
        prof = cProfile.Profile()
        with store.fresh() as settings:
            run_lapor(settings, case, n, prof)
        out.write(f"\n== profile: {store.name} {case} (N={n}) ==\n")
        stats = pstats.Stats(prof, stream=out).strip_dirs()
        stats.sort_stats("tottime").print_stats(top)
        stats.sort_stats("cumulative").print_stats(top)
    return out.getvalue()


# ------------------------------------------------------------------ concurrent filers
BARRIER_S = 600  # for every filer to warm up and report ready


def _filer(settings: Settings, side: str, worker: int, n: int, start: Any, out: Any) -> None:
    """One process: file `n` complaints (or save n raw aggregates) after the start signal,
    then put its figures (or its error) on `out`."""
    try:
        out.put((worker, _file(settings, side, worker, n, start)))
    except BaseException as exc:
        out.put((worker, f"{type(exc).__name__}: {exc}"))
        raise


def _file(settings: Settings, side: str, worker: int, n: int, start: Any) -> dict[str, float]:
    import lapor_es.application as application
    import lapor_es.tracking as tracking

    configure_logging("json", "warning")
    retries = 0
    real_backoff, real_block_backoff = application.backoff, tracking._backoff

    def counted(attempt: int) -> None:
        nonlocal retries
        retries += 1
        real_backoff(attempt)

    def counted_block(attempt: int) -> None:
        nonlocal retries
        retries += 1
        real_block_backoff(attempt)

    application.backoff = counted
    tracking._backoff = counted_block
    refusals = 0
    if side == "lapor":
        lapor = open_app(settings)

        def body(i: int) -> None:
            lapor.handle(parse_command(file_cmd(worker * 1_000_000 + i)))

        close = lapor.close
    else:
        raw = RawApp(env=raw_env(settings))

        def body(i: int) -> None:
            raw.create(f"thing-{worker}-{i}")

        close = raw.close
    body(900_000 + 0)  # warm: connections, the first block (an error reaches the parent)
    ready, go = start
    ready.put(worker)
    if not go.wait(timeout=BARRIER_S):
        raise TimeoutError(f"filer {worker}: no start signal in {BARRIER_S} s")
    retries = 0  # the filings' retries: the timed window only
    began = time.perf_counter()
    for i in range(n):
        try:
            body(i)
        except Exception:  # a refusal (Conflict) of a valid filing: spurious
            refusals += 1
    ended = time.perf_counter()
    filing_retries = retries
    close()  # lapor: the writer releases its blocks' unused numbers (retried on a race)
    return {
        "began": began,
        "ended": ended,
        "retries": filing_retries,
        "release_retries": retries - filing_retries,
        "refusals": refusals,
    }


def concurrent(store: Store, processes: list[int], n: int) -> list[dict[str, Any]]:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    rows: list[dict[str, Any]] = []
    for p in processes:
        row: dict[str, Any] = {"processes": p, "filings_per_process": n}
        for side in ("lapor", "raw"):
            with store.fresh() as settings, ctx.Manager() as manager:
                if side == "lapor":  # the year's sequence and directory exist, as in service
                    with closing(open_app(settings)) as first:
                        first.handle(parse_command(file_cmd(999_999)))
                ready, go, out = manager.Queue(), manager.Event(), manager.Queue()
                # One process per filer, not a Pool: a Pool replaces a worker that dies and
                # loses its task, and the start barrier then waited for a filer that never
                # came (an 8-process run hung so). Here a filer that exits is seen and named.
                filers = [
                    ctx.Process(target=_filer, args=(settings, side, w, n, (ready, go), out))
                    for w in range(p)
                ]
                for filer in filers:
                    filer.start()
                try:
                    _start_together(ready, go, out, filers)
                    began = time.perf_counter()
                    results = _collect(out, filers, p)
                    seconds = time.perf_counter() - began
                finally:
                    for filer in filers:
                        filer.join(timeout=30)
                        if filer.is_alive():
                            filer.kill()
            total = p * n
            row[f"{side}_per_s"] = round(total / seconds, 1)
            row[f"{side}_retries"] = int(sum(r["retries"] for r in results))
            row[f"{side}_release_retries"] = int(sum(r["release_retries"] for r in results))
            row[f"{side}_refusals"] = int(sum(r["refusals"] for r in results))
        row["ratio"] = round(row["lapor_per_s"] / row["raw_per_s"], 2)
        row["retry_share"] = round(row["lapor_retries"] / (p * n), 4)
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def _start_together(ready: Any, go: Any, out: Any, filers: list[Any]) -> None:
    """Every filer warmed up, then the start signal; a filer that fails or exits first stops
    the wait with its error (checked every second, for at most BARRIER_S)."""
    waiting, deadline = len(filers), time.monotonic() + BARRIER_S
    while waiting:
        try:
            ready.get(timeout=1)
            waiting -= 1
            continue
        except queue.Empty:
            pass
        if not out.empty():
            worker, error = out.get()
            raise RuntimeError(f"filer {worker} failed before the start: {error}")
        dead = [i for i, f in enumerate(filers) if f.exitcode is not None]
        if dead or time.monotonic() > deadline:
            raise RuntimeError(
                f"{waiting} filers not ready after warm-up (exited: {dead}; limit {BARRIER_S} s)"
            )
    go.set()


def _collect(out: Any, filers: list[Any], p: int) -> list[dict[str, float]]:
    """Every filer's figures, or the first error; a filer that dies unreported is named."""
    results: dict[int, dict[str, float]] = {}
    deadline = time.monotonic() + 900
    while len(results) < p:
        try:
            worker, result = out.get(timeout=1)
        except queue.Empty:
            gone = [i for i, f in enumerate(filers) if f.exitcode not in (None, 0)]
            if gone or time.monotonic() > deadline:
                raise RuntimeError(
                    f"filers {gone} exited without a result; {len(results)} of {p} reported "
                    "(or 900 s passed)"
                ) from None
            continue
        if isinstance(result, str):
            raise RuntimeError(f"filer {worker}: {result}")
        results[worker] = result
    return list(results.values())


# ------------------------------------------------------------------ reporting
def machine(pg_url: str | None) -> dict[str, str]:
    return {
        "nproc": str(os.cpu_count()),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "eventsourcing": version("eventsourcing"),
        "sqlite": __import__("sqlite3").sqlite_version,
        "postgresql": postgres_version(pg_url) if pg_url else "-",
    }


def line(r: Result) -> str:
    return (
        f"{r.store:<8} {r.case:<9} lapor {r.lapor_rate:8.1f} {r.unit:<12} "
        f"raw {r.raw_rate:8.1f}  ratio {r.ratio:5.2f} [{r.ratio_min:.2f}-{r.ratio_max:.2f}]  "
        f"| cmds/s {r.lapor_commands_per_s:7.1f} "
        f"vs {r.raw_commands_per_s:7.1f} | events/s lapor {r.lapor_events_per_s:7.1f} "
        f"(complaint {r.lapor_complaint_events_per_s:7.1f}, "
        f"{r.lapor_events_per_complaint:.2f}/complaint) raw {r.raw_events_per_s:7.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--complaints", type=int, default=400, help="N (default 400)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per side (median)")
    parser.add_argument(
        "--database-url", help="PostgreSQL server URL (default: deploy/postgres/pg url)"
    )
    parser.add_argument("--json", action="store_true", help="print JSON instead of lines")
    parser.add_argument("--profile", action="store_true", help="cProfile lapor, top functions")
    parser.add_argument("--profile-top", type=int, default=25)
    parser.add_argument(
        "--concurrent", help="PostgreSQL: concurrent filer processes, e.g. 1,2,4,8 (only this)"
    )
    args = parser.parse_args(argv)
    if args.concurrent:
        configure_logging("json", "warning")
        pg = Store("postgres", postgres_url(args.database_url))
        concurrent(pg, [int(p) for p in args.concurrent.split(",")], args.complaints)
        return 0

    # Production logs at info; the benchmark drops info lines so stderr I/O is not timed.
    configure_logging("json", "warning")
    stores: list[Store] = []
    pg_url = None
    if args.store in ("sqlite", "both"):
        stores.append(Store("sqlite"))
    if args.store in ("postgres", "both"):
        pg_url = postgres_url(args.database_url)
        stores.append(Store("postgres", pg_url))

    info = machine(pg_url)
    if not args.json:
        print(" ".join(f"{k}={v}" for k, v in info.items()), flush=True)
        print(f"N={args.complaints} complaints per case, repeats={args.repeats} (median)")
    results: list[Result] = []
    profiles: list[str] = []
    for store in stores:
        for case in ("file", "file+key", "lifecycle"):
            result = measure(store, case, args.complaints, args.repeats)
            results.append(result)
            if not args.json:
                print(line(result), flush=True)
        if args.profile:
            profiles.append(profile_store(store, args.complaints, args.profile_top))
    if args.json:
        doc = {"machine": info, "results": [asdict(r) for r in results]}
        json.dump(doc, sys.stdout, indent=2)
        print()
    for text in profiles:
        print(text, file=sys.stderr if args.json else sys.stdout)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
