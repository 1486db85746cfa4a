"""The cost of the HTTP door: filings through a real `lapor-es serve` beside LaporApp.handle.

    .venv/bin/python bench/api.py [--quick] [--filings N] [--clients 1,8,32]
                                  [--rate 100] [--seconds S] [--database-url URL] [--json]

On a fresh PostgreSQL database (created and dropped by the run):
  throughput  at each concurrency (1, 8, 32 clients): N filings through HTTP (a channel's
              token, one keep-alive httpx client per thread, each answer a 201) beside N
              filings through LaporApp.handle in this process on the same store (one thread
              per client), measured alternately in the same run. Filings per second and
              p50/p99 latency of each, and the ratio (the cost of the door: the HTTP hop,
              JSON, authentication, the actor derivation, the access code it issues).
  visibility  filings at --rate per second for --seconds against `serve --project` (the
              server's own projector following the store): time from the 201 arriving to
              the complaint's row in the inbox read model (inbox_complaints, the table the
              inbox and desk queue read), polled every POLL_S. Baseline: the same at the
              same rate with the filings made by LaporApp.handle in this process (the
              projector's own lag, without HTTP).

PostgreSQL: --database-url (a server URL; a database is created on it), else
LAPOR_BENCH_DATABASE_URL, else `deploy/postgres/pg url`. The server and this process share
the machine: on 2 cores the client threads compete with the server for CPU, as a load
generator on the same host does; the in-process side has no such competitor. Say so when
quoting the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

import httpx
import psycopg

from lapor_es.aggregates.values import Channel
from lapor_es.application import LaporApp
from lapor_es.auth.principals import PrincipalRole
from lapor_es.bootstrap import door as build_door
from lapor_es.bootstrap import open_app
from lapor_es.commands import parse_command
from lapor_es.config import Settings
from lapor_es.logging import configure_logging
from lapor_es.readmodels.inbox import HELPER as INBOX_TABLE

REPO = Path(__file__).resolve().parent.parent
READY_DEADLINE = 120.0  # seconds for `lapor-es serve` to answer /readyz 200
CATCH_UP_DEADLINE = 600.0  # seconds for the projector to reach the filings made before
VISIBLE_DEADLINE = 120.0  # seconds after the last filing for the last one to be visible
POLL_S = 0.005  # the visibility poll; the resolution of the lag figures
WARMUP = 20
# The door's own limits would cap a benchmark, not measure it.
UNLIMITED = {"LAPOR_API_RATE_BURST": "1000000", "LAPOR_API_RATE_PER_SECOND": "1000000"}


# ------------------------------------------------------------------ the store and server
def postgres_server_url(given: str | None) -> str:
    if given:
        return given
    if env := os.environ.get("LAPOR_BENCH_DATABASE_URL"):
        return env
    pg = REPO / "deploy" / "postgres" / "pg"
    return subprocess.run(
        [str(pg), "url"], check=True, capture_output=True, text=True
    ).stdout.strip()


@contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    name = f"lapor_bench_api_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield server_url.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def settings_for(url: str) -> Settings:
    return Settings(_env_file=None, database_url=url, reporter_pepper="bench-pepper")


def prepare(url: str) -> str:
    """Migrate everything `serve` needs, register the desk, and issue a channel's token."""
    door = build_door(settings_for(url))
    try:
        register = {"command": "register_agency", "actor": {"id": "desk", "role": "national_admin"}}
        desk = register | {"code": "LAPOR", "name": "LAPOR!", "kind": "national_desk"}
        door.lapor.handle(parse_command(desk))
        _, token = door.principals.add(
            "bench-portal", PrincipalRole.CHANNEL, channel=Channel.WEB, now=door.clock()
        )
        return token
    finally:
        door.close()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=30)


@contextmanager
def serving(url: str, workdir: Path, *args: str) -> Iterator[Server]:
    port = free_port()
    log = workdir / f"serve-{port}.log"
    env = dict(os.environ) | UNLIMITED
    env |= {"LAPOR_DATABASE_URL": url, "LAPOR_REPORTER_PEPPER": "bench-pepper"}
    env |= {"LAPOR_LOG_LEVEL": "warning", "LAPOR_LOG_FORMAT": "json"}
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [sys.executable, "-m", "lapor_es.cli", "serve", "--port", str(port), *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=env,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        wait_ready(server)
        yield server
    finally:
        server.stop()


def wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_DEADLINE
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"serve exited:\n{server.log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)
    raise TimeoutError(f"serve not ready within {READY_DEADLINE:g} s (GET /readyz 200)")


# ------------------------------------------------------------------ filings
def filing(i: int) -> dict[str, Any]:
    return {
        "command": "file",
        "title": f"Jalan rusak di ruas {i}",
        "description": "Jalan berlubang sepanjang dua ratus meter, membahayakan pengendara.",
        "category": "Infrastruktur",
        "reporter": {"name": f"Warga {i}", "phone": f"0812{i:08d}"},
    }


def in_process_filing(i: int) -> dict[str, Any]:
    """What the door hands the engine for a web channel's filing."""
    return filing(i) | {"actor": {"id": "bench-portal", "role": "reporter"}, "channel": "web"}


class HttpFiler:
    """One keep-alive HTTP client per thread, as a channel's workers would hold."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.headers = {"Authorization": f"Bearer {token}"}
        self.local = threading.local()
        self.clients: list[httpx.Client] = []

    def __call__(self, i: int) -> str:
        client = getattr(self.local, "client", None)
        if client is None:
            client = self.local.client = httpx.Client(base_url=self.base_url, timeout=60)
            self.clients.append(client)
        response = client.post("/v1/commands", json=filing(i), headers=self.headers)
        if response.status_code != 201:
            raise RuntimeError(f"filing {i}: {response.status_code} {response.text[:300]}")
        tracking_id: str = response.json()["tracking_id"]
        return tracking_id

    def close(self) -> None:
        for client in self.clients:
            client.close()


def lapor_filer(lapor: LaporApp) -> Callable[[int], str]:
    def file(i: int) -> str:
        outcome = lapor.handle(parse_command(in_process_filing(i)))
        assert outcome.tracking_id is not None
        return outcome.tracking_id

    return file


class Numbers:
    """Filing numbers, never reused in a run (each filing a distinct reporter)."""

    def __init__(self) -> None:
        self.used = 0

    def take(self, n: int) -> range:
        block = range(self.used, self.used + n)
        self.used += n
        return block


# ------------------------------------------------------------------ throughput
@dataclass
class Sample:
    filings: int
    seconds: float
    latencies: list[float]

    @property
    def rate(self) -> float:
        return self.filings / self.seconds

    def percentile(self, p: int) -> float:
        return percentile(self.latencies, p)


def percentile(values: list[float], p: int) -> float:
    if len(values) < 2:
        return values[0] if values else float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def concurrently(file: Callable[[int], str], numbers: range, clients: int) -> Sample:
    """`numbers` filed by `clients` threads, each taking the next number when free."""
    pending = iter(numbers)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[BaseException] = []

    def worker() -> None:
        while not errors:
            with lock:
                i = next(pending, None)
            if i is None:
                return
            started = time.perf_counter()
            try:
                file(i)
            except BaseException as exc:  # re-raised in the main thread after the join
                errors.append(exc)
                return
            elapsed = time.perf_counter() - started
            with lock:
                latencies.append(elapsed)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if errors:
        raise errors[0]
    return Sample(len(latencies), seconds, latencies)


@dataclass
class Level:
    clients: int
    http: Sample
    lapor: Sample


def throughput(
    url: str, workdir: Path, token: str, n: int, levels: list[int], numbers: Numbers
) -> list[Level]:
    """At each level, N filings through HTTP, then N through LaporApp.handle."""
    out = []
    lapor = open_app(settings_for(url))
    try:
        with serving(url, workdir) as server:
            http = HttpFiler(server.base_url, token)
            in_process = lapor_filer(lapor)
            for file in (http, in_process):  # connections, pools, caches
                concurrently(file, numbers.take(WARMUP), 1)
            for clients in levels:
                via_http = concurrently(http, numbers.take(n), clients)
                via_lapor = concurrently(in_process, numbers.take(n), clients)
                out.append(Level(clients, via_http, via_lapor))
            http.close()
    finally:
        lapor.close()
    return out


# ------------------------------------------------------------------ visibility
def inbox_rows(conn: psycopg.Connection[Any]) -> int:
    row = conn.execute(f"SELECT count(*) FROM {INBOX_TABLE}").fetchone()
    return int(row[0]) if row else 0


def wait_caught_up(conn: psycopg.Connection[Any], filed: int) -> None:
    """The projector has projected every filing made before the measurement starts."""
    deadline = time.monotonic() + CATCH_UP_DEADLINE
    while inbox_rows(conn) < filed:
        if time.monotonic() > deadline:
            raise TimeoutError(
                f"the projector did not reach {filed} rows in {INBOX_TABLE} within "
                f"{CATCH_UP_DEADLINE:g} s (at {inbox_rows(conn)})"
            )
        time.sleep(0.2)


@dataclass
class Lags:
    filings: int
    seconds: float  # from the first filing sent to the last one sent
    lags: list[float]  # 201 (or return of handle) -> row seen, seconds

    @property
    def rate(self) -> float:
        return self.filings / self.seconds


def paced(
    file: Callable[[int], str], url: str, numbers: range, rate: float, senders: int = 8
) -> Lags:
    """Filings sent on a fixed schedule (number k at start + k / rate) by `senders` threads;
    a watcher polls the inbox table for each filed complaint from the moment it was filed."""
    filed: dict[str, float] = {}  # tracking id -> perf_counter when its filing returned
    seen: dict[str, float] = {}
    lock = threading.Lock()
    sent_all = threading.Event()
    schedule = iter(enumerate(numbers))
    errors: list[BaseException] = []
    start = time.perf_counter() + 0.1
    last_sent = start

    def sender() -> None:
        nonlocal last_sent
        while not errors:
            with lock:
                item = next(schedule, None)
            if item is None:
                return
            k, i = item
            time.sleep(max(0.0, start + k / rate - time.perf_counter()))
            try:
                tracking_id = file(i)
            except BaseException as exc:  # re-raised after the join
                errors.append(exc)
                return
            now = time.perf_counter()
            with lock:
                filed[tracking_id] = now
                last_sent = max(last_sent, now)

    def watcher() -> None:
        with psycopg.connect(url, autocommit=True) as conn:
            deadline: float | None = None
            while not errors:
                with lock:
                    waiting = [t for t in filed if t not in seen]
                if waiting:
                    rows = conn.execute(
                        f"SELECT tracking_id FROM {INBOX_TABLE} WHERE tracking_id = ANY(%s)",
                        (waiting,),
                    ).fetchall()
                    now = time.perf_counter()
                    with lock:
                        for (tracking_id,) in rows:
                            seen[tracking_id] = now
                elif sent_all.is_set():
                    return
                if sent_all.is_set():
                    deadline = deadline or time.monotonic() + VISIBLE_DEADLINE
                    if time.monotonic() > deadline:
                        errors.append(TimeoutError(f"{len(waiting)} filings never visible"))
                        return
                time.sleep(POLL_S)

    watching = threading.Thread(target=watcher)
    watching.start()
    threads = [threading.Thread(target=sender) for _ in range(senders)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    sent_all.set()
    watching.join()
    if errors:
        raise errors[0]
    lags = [seen[t] - filed[t] for t in filed]
    return Lags(len(filed), last_sent - start, lags)


def visibility(
    url: str, workdir: Path, token: str, rate: float, seconds: float, numbers: Numbers
) -> tuple[Lags, Lags]:
    """(through HTTP, through LaporApp.handle), both followed by `serve --project`."""
    n = max(2, round(rate * seconds))
    lapor = open_app(settings_for(url))
    try:
        with serving(url, workdir, "--project") as server, psycopg.connect(url) as conn:
            wait_caught_up(conn, numbers.used)
            http = HttpFiler(server.base_url, token)
            via_http = paced(http, url, numbers.take(n), rate)
            http.close()
            wait_caught_up(conn, numbers.used)
            via_lapor = paced(lapor_filer(lapor), url, numbers.take(n), rate)
    finally:
        lapor.close()
    return via_http, via_lapor


# ------------------------------------------------------------------ report
def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f}"


def report(levels: list[Level], lags: tuple[Lags, Lags], rate: float) -> str:
    lines = [
        "Filings through the door (HTTP) beside LaporApp.handle in-process, same PostgreSQL",
        f"{'clients':>7} {'http/s':>8} {'handle/s':>8} {'ratio':>6} | "
        f"{'p50 http':>8} {'handle':>8} {'ratio':>6} | {'p99 http':>8} {'handle':>8} {'ratio':>6}",
    ]
    for level in levels:
        h, b = level.http, level.lapor
        lines.append(
            f"{level.clients:>7} {h.rate:8.1f} {b.rate:8.1f} {b.rate / h.rate:6.2f} | "
            f"{ms(h.percentile(50))} {ms(b.percentile(50))} "
            f"{h.percentile(50) / b.percentile(50):6.2f} | "
            f"{ms(h.percentile(99))} {ms(b.percentile(99))} "
            f"{h.percentile(99) / b.percentile(99):6.2f}"
        )
    lines.append("(rates: filings/s, ratio handle/http; latencies: ms, ratio http/handle)")
    via_http, via_lapor = lags
    lines += [
        "",
        f"Filed -> visible in {INBOX_TABLE} (serve --project following), target {rate:g}/s",
        f"{'filed by':>14} {'filings':>7} {'rate/s':>7} {'p50 ms':>8} {'p99 ms':>8}",
    ]
    for name, lag in (("HTTP (201)", via_http), ("LaporApp.handle", via_lapor)):
        lines.append(
            f"{name:>14} {lag.filings:7d} {lag.rate:7.1f} "
            f"{ms(percentile(lag.lags, 50))} {ms(percentile(lag.lags, 99))}"
        )
    p50 = percentile(via_http.lags, 50) / percentile(via_lapor.lags, 50)
    p99 = percentile(via_http.lags, 99) / percentile(via_lapor.lags, 99)
    lines.append(f"{'ratio':>14} {'':>7} {'':>7} {p50:8.2f} {p99:8.2f}   (HTTP / handle)")
    lines.append(f"(lags include up to {POLL_S * 1000:g} ms of polling)")
    return "\n".join(lines)


def as_json(levels: list[Level], lags: tuple[Lags, Lags], args: argparse.Namespace) -> str:
    def sample(s: Sample) -> dict[str, float]:
        return {"filings": s.filings, "seconds": s.seconds, "rate": s.rate} | {
            "p50_ms": s.percentile(50) * 1000,
            "p99_ms": s.percentile(99) * 1000,
        }

    def lag(x: Lags) -> dict[str, float]:
        return {"filings": x.filings, "rate": x.rate} | {
            "p50_ms": percentile(x.lags, 50) * 1000,
            "p99_ms": percentile(x.lags, 99) * 1000,
        }

    return json.dumps(
        {
            "machine": machine(),
            "arguments": {k: v for k, v in vars(args).items() if k != "database_url"},
            "throughput": [
                {"clients": x.clients, "http": sample(x.http), "handle": sample(x.lapor)}
                for x in levels
            ],
            "visibility": {"http": lag(lags[0]), "handle": lag(lags[1])},
        },
        indent=2,
    )


def machine() -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg()[0],
        "fastapi": version("fastapi"),
        "uvicorn": version("uvicorn"),
        "eventsourcing": version("eventsourcing"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a smoke run)")
    parser.add_argument("--filings", type=int, help="filings per side per level (default 300)")
    parser.add_argument("--clients", default="1,8,32", help="concurrency levels")
    parser.add_argument("--rate", type=float, default=100.0, help="filings/s (visibility)")
    parser.add_argument("--seconds", type=float, help="visibility duration (default 20)")
    parser.add_argument("--database-url", help="PostgreSQL server URL")
    parser.add_argument("--json", action="store_true", help="machine-readable output")
    args = parser.parse_args(argv)
    n = args.filings or (40 if args.quick else 300)
    seconds = args.seconds or (3.0 if args.quick else 20.0)
    levels = [int(c) for c in args.clients.split(",")]
    configure_logging(level="warning")
    numbers = Numbers()
    with fresh_database(postgres_server_url(args.database_url)) as url:
        token = prepare(url)
        with tempfile.TemporaryDirectory(prefix="lapor-bench-api-") as tmp:
            workdir = Path(tmp)
            done = throughput(url, workdir, token, n, levels, numbers)
            lags = visibility(url, workdir, token, args.rate, seconds, numbers)
    print(as_json(done, lags, args) if args.json else report(done, lags, args.rate))
    if not args.json:
        print(f"\n{json.dumps(machine())}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
