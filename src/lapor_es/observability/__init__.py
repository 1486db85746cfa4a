"""What a long-running worker reports about itself, without knowing who listens.

The relay, the projector runners, the feed router, the timers, the notifier and the webhook
sender call the `WorkerMetrics` methods below; they never import prometheus-client. The
process's entry point (`lapor-es relay --metrics-port ...`) installs a Prometheus recorder
with `install`; everywhere else (tests, library use, one-shot commands) the no-op default
stays, so metrics cost nothing when nobody scrapes them.

One recorder per process, like the logging configuration: the readers are built deep inside
services (the read-model service builds the runners), and threading a recorder through
every constructor would touch every layer for a cross-cutting concern.
"""

from __future__ import annotations

from typing import Protocol


class WorkerMetrics(Protocol):
    """The narrow interface the workers update (see docs/operations.md for the families)."""

    def batch(self, records: int, seconds: float) -> None:
        """A batch of `records` events/records was processed in `seconds`."""

    def lag(self, behind: int) -> None:
        """Events/records between what is done and the store head or topic end."""

    def retried(self, count: int = 1) -> None:
        """Failed attempts that will be tried again (a send, a pass)."""

    def parked(self, count: int = 1) -> None:
        """Records set aside until an operator acts (dead letters, parked sends)."""

    def restarted(self) -> None:
        """A consumer or producer session was replaced after a failure."""


class NoMetrics:
    """The default: nobody is scraping."""

    def batch(self, records: int, seconds: float) -> None:
        pass

    def lag(self, behind: int) -> None:
        pass

    def retried(self, count: int = 1) -> None:
        pass

    def parked(self, count: int = 1) -> None:
        pass

    def restarted(self) -> None:
        pass


_current: WorkerMetrics = NoMetrics()


def install(metrics: WorkerMetrics) -> None:
    """Make `metrics` the recorder of every worker created from now on in this process."""
    global _current
    _current = metrics


def current() -> WorkerMetrics:
    """The process's recorder (the no-op one unless an entry point installed another)."""
    return _current
