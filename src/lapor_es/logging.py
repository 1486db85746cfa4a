"""One logging pipeline for ours and the standard library's: JSON lines in production,
readable output on a terminal.

structlog loggers (ours) and standard-library loggers (kafka-python, Alembic, eventsourcing,
uvicorn) end in the same `structlog.stdlib.ProcessorFormatter` on one root handler, so every
line has the same shape: timestamp, level, `logger` (the logger's name), the bound context
(`process`: relay, projector, ...; `complaint_id`, `tracking_id`, `principal` where a
caller bound them) and the event.

Logs go to stderr: stdout belongs to command results (`lapor-es exec` writes JSON there).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import Literal, TextIO

import structlog
from structlog.typing import Processor

LogFormat = Literal["auto", "json", "console"]

# Chatty at INFO (a line per connection, per metadata refresh): their warnings are what an
# operator needs, unless debugging.
QUIET_AT_INFO = ("kafka",)


class StartupError(RuntimeError):
    """A worker cannot start (an unreachable broker, a missing topic): the CLI prints this
    message as one log line and exits non-zero, instead of a traceback."""


@contextlib.contextmanager
def quiet(logger_name: str) -> Iterator[None]:
    """Silence a library's logger for a block: a startup probe that fails reports ONE line
    (its StartupError), not the library's line per connection attempt."""
    logger = logging.getLogger(logger_name)
    before = logger.level
    logger.setLevel(logging.CRITICAL + 1)  # its children inherit it (`disabled` they do not)
    try:
        yield
    finally:
        logger.setLevel(before)


def startup_probe(what: str, bootstrap: str) -> contextlib.AbstractContextManager[None]:
    """Wrap the first Kafka call of a worker: quiet, and a failure becomes a StartupError
    naming `what` could not start and the servers it tried."""
    return _probe(what, bootstrap)


@contextlib.contextmanager
def _probe(what: str, bootstrap: str) -> Iterator[None]:
    from kafka.errors import KafkaError  # here: only the workers that talk to Kafka pay it

    try:
        with quiet("kafka"):
            yield
    except (KafkaError, OSError) as exc:
        reason = str(exc)  # kafka-python's messages often start with the class name already
        if not reason.startswith(type(exc).__name__):
            reason = f"{type(exc).__name__}: {reason}"
        raise StartupError(f"{what} cannot start: Kafka at {bootstrap}: {reason}") from exc


class _OurHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """The root handler we installed (configuring again replaces only ours). It writes to
    whatever `sys.stderr` is when a line is logged, not the stream of the moment it was
    made: test runners and CliRunner swap stderr, and a handler left holding a closed one
    would fail every later line."""

    @property
    def stream(self) -> TextIO:
        return sys.stderr

    @stream.setter
    def stream(self, _value: TextIO) -> None:
        pass  # always sys.stderr


def configure_logging(fmt: LogFormat = "auto", level: str = "info") -> None:
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    level_no = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_logger_name,
        structlog.stdlib.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        wrapper_class=structlog.make_filtering_bound_logger(level_no),
        logger_factory=structlog.stdlib.LoggerFactory(),
        cache_logger_on_first_use=False,
    )
    _install_root_handler(_formatter(shared, use_json), level_no)


def _formatter(shared: list[Processor], use_json: bool) -> logging.Formatter:
    renderer: Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    final: list[Processor] = [structlog.stdlib.ProcessorFormatter.remove_processors_meta]
    if use_json:  # the console renderer formats exceptions itself, readably
        final.append(structlog.processors.format_exc_info)
    return structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder()],
        processors=[*final, renderer],
    )


def _install_root_handler(formatter: logging.Formatter, level_no: int) -> None:
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _OurHandler)]:
        root.removeHandler(handler)
    handler = _OurHandler()
    handler.setFormatter(formatter)
    root.addHandler(handler)
    root.setLevel(level_no)
    for name in QUIET_AT_INFO:
        logging.getLogger(name).setLevel(max(level_no, logging.WARNING))
