"""Run one action in several threads released at the same moment, as separate processes
starting together would (each action opens engines or apps of its own)."""

from __future__ import annotations

import threading
from collections.abc import Callable


def errors_at_once(
    action: Callable[[], None], threads: int, *, limit_s: float = 120
) -> list[BaseException]:
    """`threads` threads run `action` at once; the errors they raised (none: an empty list).
    Fails the test if a thread is still running after `limit_s`."""
    start = threading.Barrier(threads, timeout=60)
    errors: list[BaseException] = []

    def run() -> None:
        try:
            start.wait()
            action()
        except BaseException as exc:  # collected, asserted by the caller
            errors.append(exc)

    workers = [threading.Thread(target=run) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=limit_s)
    assert not any(w.is_alive() for w in workers), f"a thread still ran after {limit_s} s"
    return errors
