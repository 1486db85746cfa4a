"""Wake on commit vs poll (issue 11), PostgreSQL: idle queries and filing -> topic latency.

    .venv/bin/python bench/wake.py [--idle-seconds 20] [--samples 30] [--bootstrap HOST:PORT]
                                   [--database-url URL] [--json]

Both cases in the same run, on a fresh database each:
  idle     a following Relay and a following LocalRunner, nothing filed, for --idle-seconds:
           notification-log queries they issue (select_notifications + max_notification_id,
           counted on the recorder), scaled to a minute
  latency  a following Relay in this process; each of --samples filings through LaporApp,
           from the filing's commit to the record reaching a read_committed consumer
  wake     lapor_es.wake: LISTEN on the recorder's channel (the default on PostgreSQL)
  poll     the same code with the poll waker (what ran before: 50 ms relay, 200 ms runner)
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.crc import crc_implementation
from bench.relay import Topics, Watcher, file_one, fresh_settings, pct, postgres_server
from lapor_es import wake
from lapor_es.bootstrap import open_app, read_model_service
from lapor_es.kafka import relay as relay_module
from lapor_es.logging import configure_logging
from lapor_es.projections import runners as runners_module


class Counted:
    """Counts the notification-log queries made through a recorder."""

    def __init__(self, recorder: Any) -> None:
        self.calls = 0
        for name in ("select_notifications", "max_notification_id"):
            original = getattr(recorder, name)
            setattr(recorder, name, self._counting(original))

    def _counting(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls += 1
            return original(*args, **kwargs)

        return call


@contextmanager
def waker_mode(mode: str) -> Iterator[None]:
    """`poll`: make the relay and the runner use the poll waker, as before issue 11."""
    if mode == "wake":
        yield
        return
    saved = relay_module.waker_for, runners_module.waker_for
    relay_module.waker_for = runners_module.waker_for = lambda _recorder: wake.PollWaker()
    try:
        yield
    finally:
        relay_module.waker_for, runners_module.waker_for = saved


@contextmanager
def following(target: Callable[[], object], stop: threading.Event) -> Iterator[None]:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)


def idle(mode: str, pg: str, topics: Topics, seconds: float) -> dict[str, float]:
    out: dict[str, float] = {}
    with waker_mode(mode), fresh_settings("postgres", pg) as settings:
        lapor = open_app(settings)
        try:
            file_one(lapor, 0)  # something to publish, then nothing
            counted = Counted(lapor.recorder)
            relay = relay_module.Relay(lapor.recorder, lapor.mapper, topics.new(f"idle-{mode}"))
            with following(lambda: relay.run(follow=True), relay.stop):
                deadline = time.monotonic() + 60
                while relay.stats.published < 1:
                    assert time.monotonic() < deadline, "the relay did not publish in 60 s"
                    time.sleep(0.05)
                before = counted.calls
                time.sleep(seconds)
                out["relay_idle_queries_per_min"] = (counted.calls - before) * 60 / seconds
            with read_model_service(settings) as service:
                projector = service.open_projector(service.models(("complaints",)))
                runner = runners_module.LocalRunner(lapor.recorder, lapor.mapper, projector)
                with following(lambda: runner.run(follow=True), runner.stop):
                    time.sleep(2.0)  # caught up on the one filing
                    before = counted.calls
                    time.sleep(seconds)
                    out["runner_idle_queries_per_min"] = (counted.calls - before) * 60 / seconds
        finally:
            lapor.close()
    return out


def latency(mode: str, pg: str, topics: Topics, samples: int) -> dict[str, float]:
    jitter = random.Random(7)
    seen_ms: list[float] = []
    with waker_mode(mode), fresh_settings("postgres", pg) as settings:
        lapor = open_app(settings)
        kafka = topics.new(f"lat-{mode}")
        relay = relay_module.Relay(lapor.recorder, lapor.mapper, kafka)
        watcher = Watcher(kafka, 100)
        try:
            with following(lambda: relay.run(follow=True), relay.stop):
                watcher.wait_for(file_one(lapor, 0), timeout_s=60)
                for i in range(1, samples + 1):
                    time.sleep(jitter.uniform(0, 0.1))
                    key = file_one(lapor, i)
                    committed = time.perf_counter()
                    seen_ms.append((watcher.wait_for(key) - committed) * 1000)
        finally:
            watcher.close()
            lapor.close()
    return {"p50_ms": pct(seen_ms, 0.5), "p95_ms": pct(seen_ms, 0.95), "n": len(seen_ms)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--samples", type=int, default=30)
    parser.add_argument("--bootstrap", default="127.0.0.1:59092")
    parser.add_argument("--database-url")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    configure_logging("json", "warning")
    print(f"kafka-python CRC-32C: {crc_implementation()}", flush=True)
    pg = postgres_server(args.database_url)
    topics = Topics(args.bootstrap)
    report: dict[str, Any] = {"crc32c": crc_implementation()}
    try:
        for mode in ("poll", "wake"):
            report[mode] = idle(mode, pg, topics, args.idle_seconds) | {
                "latency": latency(mode, pg, topics, args.samples)
            }
            r = report[mode]
            print(
                f"{mode:5} idle queries/min: relay {r['relay_idle_queries_per_min']:7.0f}, "
                f"runner {r['runner_idle_queries_per_min']:7.0f}; filing committed -> topic "
                f"p50 {r['latency']['p50_ms']:6.1f} ms, p95 {r['latency']['p95_ms']:6.1f} ms",
                flush=True,
            )
    finally:
        topics.delete_all()
    if args.json:
        print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
