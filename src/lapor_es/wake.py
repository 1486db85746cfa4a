"""Waking a notification-log reader on commit instead of on a timer.

The relay and the in-process projection runner tail the notification log. Polling it every
50-200 ms costs a query each time (1,200 a minute for the relay while nothing happens) and
adds half the interval to every filing's way to the topic. On PostgreSQL, eventsourcing's
recorder sends `NOTIFY <channel>` in every transaction that inserts events, and PostgreSQL
delivers it when (and only if) that transaction commits. A `ListenWaker` LISTENs on that
channel on its own connection and wakes the reader then; the poll stays as a slow fallback
in case a notification is missed (the listening connection dropped and is being re-opened).
SQLite has no such signal: a `PollWaker` is the old timer.

Readers use it as: select; if nothing, `waker.wait(...)`; select again. `wait` clears the
signal before returning, so a commit that lands between the select and the next `wait` makes
that `wait` return at once: nothing is missed, at worst one query finds nothing.
"""

from __future__ import annotations

import threading
from typing import Protocol

import structlog
from eventsourcing.persistence import ApplicationRecorder

log = structlog.get_logger("lapor_es.wake")

# Without a signal a waiting reader still looks at the stop event this often: costs no query.
_STOP_CHECK_S = 0.1
# With LISTEN working, the poll is only a safety net (a notification lost while reconnecting).
LISTEN_FALLBACK_S = 5.0


class Waker(Protocol):
    mode: str  # "listen" or "poll", reported by the benchmarks

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        """Block until a commit (True), `timeout` seconds, or `stop` is set (False)."""
        ...

    def close(self) -> None: ...


class PollWaker:
    """No commit signal (SQLite): wait out the poll interval, answering `stop` promptly."""

    mode = "poll"

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        stop.wait(timeout)
        return False

    def close(self) -> None:
        pass


class ListenWaker:
    """LISTEN on the PostgreSQL recorder's channel in a daemon thread, on its own connection
    (not the pool's: it is held for the reader's whole life)."""

    mode = "listen"

    def __init__(self, recorder: ApplicationRecorder, *, reconnect_s: float = 1.0) -> None:
        from eventsourcing.postgres import PostgresApplicationRecorder

        assert isinstance(recorder, PostgresApplicationRecorder)
        self._recorder = recorder
        self._channel = recorder.channel_name
        self._reconnect_s = reconnect_s
        self._signal = threading.Event()
        self._signal.set()  # the reader's first select is due anyway
        self._listening = threading.Event()
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._listen, name="lapor-listen", daemon=True)
        self._thread.start()

    def ready(self, timeout: float) -> bool:
        """True once LISTEN is in place (a commit after this wakes the reader)."""
        return self._listening.wait(timeout)

    def wait(self, timeout: float, stop: threading.Event) -> bool:
        # While LISTEN is down, notifications may be lost: keep the caller's short poll.
        remaining = timeout if self._listening.is_set() else min(timeout, 0.2)
        while remaining > 0 and not stop.is_set():
            step = min(_STOP_CHECK_S, remaining)
            if self._signal.wait(step):
                self._signal.clear()
                return True
            remaining -= step
        return False

    def close(self) -> None:
        self._closed.set()
        self._thread.join(timeout=5)

    def _listen(self) -> None:
        while not self._closed.is_set():
            try:
                self._listen_once()
            except Exception as exc:  # a dropped connection: re-open, poll meanwhile
                self._listening.clear()
                self._signal.set()  # a commit may have gone unnoticed: look once
                log.warning("wake.listen_failed", error=f"{type(exc).__name__}: {exc}")
                self._closed.wait(self._reconnect_s)

    def _listen_once(self) -> None:
        import psycopg
        from psycopg.sql import SQL, Identifier

        pool = self._recorder.datastore.pool
        params = pool.kwargs() if callable(pool.kwargs) else (pool.kwargs or {})
        kwargs = {k: v for k, v in params.items() if k != "row_factory"}
        conninfo = pool.conninfo() if callable(pool.conninfo) else pool.conninfo
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10, **kwargs) as conn:
            conn.execute(SQL("LISTEN {0}").format(Identifier(self._channel)))
            self._listening.set()
            self._signal.set()  # anything committed before LISTEN: the reader looks once
            while not self._closed.is_set():
                # notifies() returns after `timeout` with none, so close() is answered.
                for _ in conn.notifies(timeout=0.5, stop_after=1):
                    self._signal.set()


def waker_for(recorder: ApplicationRecorder) -> Waker:
    """A ListenWaker on PostgreSQL, a PollWaker otherwise."""
    try:
        from eventsourcing.postgres import PostgresApplicationRecorder
    except ImportError:  # psycopg not installed: no PostgreSQL store either
        return PollWaker()
    if isinstance(recorder, PostgresApplicationRecorder):
        return ListenWaker(recorder)
    return PollWaker()
