"""Progress bars of the long commands (relay and project catch-up, audit verify, simulate).

On by default when stderr is a terminal and the logs are not JSON (a bar's redraws would be
interleaved with JSON lines that a collector parses); `--progress/--no-progress` overrides.
The bars draw on stderr, so stdout keeps only the command's JSON result.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Protocol

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

ProgressOption = Annotated[
    bool | None,
    typer.Option(
        "--progress/--no-progress",
        help="progress bar on stderr (default: on a terminal, unless logs are JSON)",
        show_default=False,
    ),
]


class HasLogFormat(Protocol):
    @property
    def log_format(self) -> str: ...


def wanted(flag: bool | None, settings: HasLogFormat) -> bool:
    """Whether to draw a bar: the flag if given, else a terminal without JSON logs."""
    if flag is not None:
        return flag
    return sys.stderr.isatty() and settings.log_format != "json"


class EventsBar:
    """Call with (events just done, events still behind): the bar's total is what is done
    plus what is behind, so it grows when new events arrive during a catch-up. "Behind" is
    counted in store positions, which other streams (the directory, tracking blocks) share:
    an estimate until `finish` sets the total to what was done."""

    def __init__(self, progress: Progress, label: str) -> None:
        self._progress = progress
        self._task = progress.add_task(label, total=None, rate=0.0)
        self.done = 0

    def __call__(self, count: int, behind: int) -> None:
        self.done += count
        task = self._progress.tasks[self._task]
        rate = self.done / task.elapsed if task.elapsed else 0.0
        self._progress.update(
            self._task, completed=self.done, total=self.done + max(0, behind), rate=rate
        )

    def finish(self) -> None:
        """Caught up: what was done is the whole."""
        self._progress.update(self._task, completed=self.done, total=self.done)


@contextmanager
def events_bar(label: str, show: bool) -> Iterator[EventsBar | None]:
    """An `EventsBar` drawn on stderr while the block runs, or None when not `show`."""
    if not show:
        yield None
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>9,.0f} events/s"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=False) as progress:
        bar = EventsBar(progress, label)
        yield bar
        bar.finish()  # not reached on an exception: the bar stays where it stopped
