"""Reporter access codes: a reporter follows and answers their complaint without an account.

Filing returns, once, an access code for the new tracking id. The code is 100 random bits
written as 20 Crockford base32 characters in groups of four (`K7QM-3XWZ-...`): short enough
to read out over SMS 1708 or a phone line, far too many to guess. Like principal secrets it
is stored only as a SHA-256 digest; a slow KDF would protect guessable passwords, and nobody
can enumerate 2**100 codes against a stolen digest.

Guessing online is rate-limited: after `max_failures` wrong codes for one tracking id, or
from one client, within `window`, every further check is refused with `TooManyAttempts`
until the oldest failure leaves the window. The failures are rows in the database, so every
server process in front of one PostgreSQL shares the limit. An unknown tracking id runs the
same path as a wrong code (a digest compared, a failure recorded, False), so the answer never
says whether a complaint exists beyond what is public.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import ColumnElement, Connection, Engine, delete, insert, select, text, update

from lapor_es.auth.tables import access_codes, access_failures, utc

DEFAULT_MAX_FAILURES = 5
DEFAULT_WINDOW = timedelta(minutes=15)
CODE_LENGTH = 20  # characters of 5 bits each: 100 bits
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"  # Crockford base32: no I, L, O, U
# What people mistype or what a keyboard's autocorrect makes of the code.
_READ_AS = str.maketrans({"I": "1", "L": "1", "O": "0"})
_NO_SUCH_HASH = hashlib.sha256(b"no such complaint").hexdigest()
# Expired failures deleted per check: more than one check adds, so the table stays small.
_PRUNE_BATCH = 100


class TooManyAttempts(Exception):
    """Too many wrong codes for this tracking id or from this client: retry later."""

    def __init__(self, retry_after_seconds: int) -> None:
        super().__init__(f"too many wrong access codes: retry in {retry_after_seconds} s")
        self.retry_after_seconds = retry_after_seconds


class AccessCodeStore(Protocol):
    def issue(self, tracking_id: str, now: datetime) -> str:
        """A new code for the complaint (shown once); any earlier code stops working."""
        ...

    def check(self, tracking_id: str, code: str, now: datetime, *, client: str) -> bool:
        """True if `code` opens `tracking_id`. Raises TooManyAttempts when rate-limited."""
        ...


# ----------------------------------------------------------------------- codes and the limit
def new_code() -> str:
    chars = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(chars[i : i + 4] for i in range(0, CODE_LENGTH, 4))


def normalised(code: str) -> str:
    """The code as issued, whatever the reporter typed: case, dashes, spaces, I/L/O."""
    return "".join(ch for ch in code.upper() if ch not in "- ").translate(_READ_AS)


def code_hash(code: str) -> str:
    return hashlib.sha256(normalised(code).encode("utf-8")).hexdigest()


def client_hash(client: str) -> str:
    return hashlib.sha256(client.encode("utf-8")).hexdigest()


def code_matches(stored_hash: str | None, code: str) -> bool:
    """Constant-time comparison; an unknown tracking id compares against a dummy digest."""
    presented = code_hash(code)
    return hmac.compare_digest(stored_hash or _NO_SUCH_HASH, presented) and stored_hash is not None


@dataclass(frozen=True)
class RateLimit:
    max_failures: int = DEFAULT_MAX_FAILURES
    window: timedelta = DEFAULT_WINDOW

    def __post_init__(self) -> None:
        if self.max_failures < 1 or self.window <= timedelta(0):
            raise ValueError("a rate limit needs at least one attempt and a positive window")

    def retry_after(self, failures: Iterable[datetime], now: datetime) -> int | None:
        """Seconds until fewer than `max_failures` of `failures` (failure times within the
        window) remain in it; None when the limit is not reached."""
        recent = sorted(failures)
        if len(recent) < self.max_failures:
            return None
        # The limit lifts when the failure that makes the count reach the limit leaves.
        freed_at = recent[len(recent) - self.max_failures] + self.window
        return max(1, math.ceil((freed_at - now).total_seconds()))


def _utc_now(now: datetime) -> datetime:
    if now.tzinfo is None:
        raise ValueError("now must carry a time zone")
    return now.astimezone(UTC)


def _refusal(limit: RateLimit, now: datetime, *failure_lists: list[datetime]) -> None:
    waits = [limit.retry_after(times, now) for times in failure_lists]
    worst = max((w for w in waits if w is not None), default=None)
    if worst is not None:
        raise TooManyAttempts(worst)


# ----------------------------------------------------------------------- in memory
class InMemoryAccessCodeStore:
    """Codes and failures in memory: for tests and in-memory apps. One process only."""

    def __init__(self, limit: RateLimit | None = None) -> None:
        self.limit = limit or RateLimit()
        self._hashes: dict[str, str] = {}
        self._failures: list[tuple[str, str, datetime]] = []  # tracking id, client hash, at

    def issue(self, tracking_id: str, now: datetime) -> str:
        code = new_code()
        self._hashes[tracking_id] = code_hash(code)
        return code

    def check(self, tracking_id: str, code: str, now: datetime, *, client: str) -> bool:
        now = _utc_now(now)
        client_key = client_hash(client)
        since = now - self.limit.window
        self._failures = [f for f in self._failures if f[2] > since]
        _refusal(
            self.limit,
            now,
            [at for t, _, at in self._failures if t == tracking_id],
            [at for _, c, at in self._failures if c == client_key],
        )
        if code_matches(self._hashes.get(tracking_id), code):
            return True
        self._failures.append((tracking_id, client_key, now))
        return False


# ----------------------------------------------------------------------- SQL
class SqlAccessCodeStore:
    """Codes and failures on the event store's database (SQLite or PostgreSQL).

    The tables must exist: `lapor_es.auth.migrations.prepare(engine)` (bootstrap runs it)."""

    def __init__(self, engine: Engine, limit: RateLimit | None = None) -> None:
        self.engine = engine
        self.limit = limit or RateLimit()

    def issue(self, tracking_id: str, now: datetime) -> str:
        code = new_code()
        values = {"code_hash": code_hash(code), "issued_at": _utc_now(now)}
        with self.engine.begin() as conn:
            replaced = conn.execute(
                update(access_codes).where(access_codes.c.tracking_id == tracking_id).values(values)
            ).rowcount
            if not replaced:
                conn.execute(insert(access_codes).values(tracking_id=tracking_id, **values))
        return code

    def check(self, tracking_id: str, code: str, now: datetime, *, client: str) -> bool:
        now = _utc_now(now)
        client_key = client_hash(client)
        since = now - self.limit.window
        with self.engine.begin() as conn:
            _serialise(conn, tracking_id, client_key, since)
            _refusal(
                self.limit,
                now,
                _failure_times(conn, access_failures.c.tracking_id == tracking_id, since),
                _failure_times(conn, access_failures.c.client_hash == client_key, since),
            )
            stored = conn.execute(
                select(access_codes.c.code_hash).where(access_codes.c.tracking_id == tracking_id)
            ).scalar()
            if code_matches(stored, code):
                return True
            conn.execute(
                insert(access_failures).values(
                    tracking_id=tracking_id, client_hash=client_key, failed_at=now
                )
            )
        return False


def _failure_times(conn: Connection, which: ColumnElement[bool], since: datetime) -> list[datetime]:
    query = select(access_failures.c.failed_at).where(which, access_failures.c.failed_at > since)
    return [utc(at) for at in conn.execute(query).scalars()]


def _serialise(conn: Connection, tracking_id: str, client_key: str, since: datetime) -> None:
    """One check at a time per tracking id and per client, so that two concurrent guesses
    cannot both read a count just below the limit.

    PostgreSQL (several server processes): transaction-scoped advisory locks, taken in a
    fixed order so two checks never deadlock. Then, on every database, some failures that
    left the window are deleted (any, not just this check's: each row belongs to a tracking
    id and a client, so deleting by either could wait on a check holding the other lock;
    rows another transaction has locked are skipped, never waited for). On SQLite that
    first write takes the database's write lock, which serialises the checks of every
    thread and process on the file."""
    if conn.dialect.name == "postgresql":
        keys = sorted({_lock_key("tracking:" + tracking_id), _lock_key("client:" + client_key)})
        for key in keys:
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
    expired = (
        select(access_failures.c.id)
        .where(access_failures.c.failed_at <= since)
        .limit(_PRUNE_BATCH)
        .with_for_update(skip_locked=True)  # SQLite has no row locks: rendered as nothing
    )
    conn.execute(delete(access_failures).where(access_failures.c.id.in_(expired)))


def _lock_key(name: str) -> int:
    """A signed 64-bit advisory lock key for `name`."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
