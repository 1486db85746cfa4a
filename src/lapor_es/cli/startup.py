"""Startup failures as one line: what could not be reached, where, and exit 3.

A worker that cannot reach its broker or its database at start must say so in one log line
(`startup.failed`) naming the host and port, never a password, and exit non-zero; not print a
library's traceback, nor retry forever as a running worker rightly does after a fault.

- `require_kafka` reaches the brokers once before a consumer worker starts (the relay and the
  feed router do the same with their first call, through `logging.startup_probe`);
- `database_failures` wraps the whole command (lapor_es.cli.main): a database that refuses
  the connection becomes a StartupError, wherever the command first touched it.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Callable, Iterator
from urllib.parse import urlsplit

from lapor_es.kafka import clients
from lapor_es.logging import StartupError, startup_probe

# Errors whose message says the connection itself failed (not a query): psycopg's, and
# SQLite's when the database file cannot be opened or created.
_CONNECTION_FAILED = ("connection failed", "unable to open database file")
# Where psycopg says it tried: the server of the URL that failed (the store's, or the read
# models' when they have a database of their own).
_SERVER = re.compile(
    r'connection to server (?:at "(?P<host>[^"]+)"(?: \([^)]*\))?, port (?P<port>\d+)'
    r'|on socket "(?P<socket>[^"]+)")'
)


def require_kafka(endpoint: clients.Endpoint, what: str) -> None:
    """Reach the brokers once (an admin client's version check), or raise StartupError
    naming `what` and the bootstrap servers."""
    with startup_probe(what, endpoint.bootstrap):
        clients.admin(endpoint, client_id="lapor-es-startup-probe").close()


@contextlib.contextmanager
def database_failures(database_url: Callable[[], str | None]) -> Iterator[None]:
    """Inside: a failure to connect to the database raises StartupError instead, naming
    where `database_url()` (asked only then) points."""
    try:
        yield
    except Exception as exc:
        message = _connection_failure(exc)
        if message is None:
            raise
        where = _server_in(message) or database_location(database_url())
        raise StartupError(f"cannot reach the database {where}: {_reason(message)}") from exc


def database_location(database_url: str | None) -> str:
    """host:port of a server URL, the file of an SQLite one: never the user or password."""
    if not database_url:
        return "(LAPOR_DATABASE_URL)"
    parts = urlsplit(database_url)
    if parts.scheme.startswith("sqlite"):
        return f"file {parts.path.removeprefix('/') or ':memory:'}"
    try:
        port = parts.port
    except ValueError:
        port = None
    return f"at {parts.hostname or 'localhost'}:{port or 5432}"


def _server_in(message: str) -> str | None:
    found = _SERVER.search(message)
    if found is None:
        return None
    if found["socket"]:
        return f"on socket {found['socket']}"
    return f"at {found['host']}:{found['port']}"


def _connection_failure(exc: BaseException) -> str | None:
    """The driver's message, when `exc` (or what caused it) is a failed connection; None
    for any other error."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if type(current).__name__ == "OperationalError":
            message = str(current).strip()
            if message.startswith("(") and ") " in message:  # SQLAlchemy's "(driver.Error) "
                message = message.split(") ", 1)[1]
            if message.lower().startswith(_CONNECTION_FAILED):
                return message
        current = current.__cause__ or current.__context__
    return None


def _reason(message: str) -> str:
    """psycopg: 'connection failed: connection to server at "h", port p failed: Connection
    refused' -> 'Connection refused' (the location is said once, by the caller)."""
    first = message.splitlines()[0].strip()
    return first.rsplit(" failed: ", 1)[-1] if " failed: " in first else first
