"""Reporter identity: pseudonymous references, per-reporter keys, crypto-shredding.

A reporter's identity (name, national ID number, phone, e-mail, address, social-media
handle) is sealed with AES-GCM under a key that belongs to that reporter alone, and only the
sealed token goes into events. Erasing a reporter deletes their keys: every event still loads
and replays, but the identity can never be read again.

Keys live behind the `KeyStore` protocol, chosen in one place (lapor_es.bootstrap) and
handed to LaporApp: `SqlKeyStore` keeps them in a table beside the event store,
`InMemoryKeyStore` in a dict (the in-memory application of the fast service tests).

Two secrets stay OUT of the store (docs/privacy.md): the pepper of the reporter references
(a setting or a key file, `resolve_pepper`) and, derived from it, the key-encryption key that
wraps every stored reporter key, so a key table read from a copy of the database (a backup,
a WAL segment, a dead tuple) is useless without the pepper. Erasure deletes a reporter's
keys and then purges the freed bytes from the database files (`SqlKeyStore.erase`).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import os
import stat
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, TypeVar, cast

import structlog
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import BaseModel, ConfigDict, SecretStr
from sqlalchemy import (
    Column,
    Connection,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import DBAPIError

TOKEN_VERSION = "v1"
ERASED = "[erased]"
PEPPER = "reporter-pepper"  # the secret's name (the previous release's row in lapor_secrets)

log = structlog.get_logger("lapor_es.privacy")


class SocialHandle(BaseModel):
    """An account on a social-media platform: all a report made there says of its sender."""

    model_config = ConfigDict(frozen=True)

    platform: str
    handle: str

    def normalised(self) -> str:
        """`platform:handle`, lower case, without the '@': the platforms treat handles
        case-insensitively, so @Budi_Santoso and budi_santoso are one account."""
        return f"{self.platform.strip().lower()}:{self.handle.strip().lstrip('@').lower()}"


class ReporterIdentity(BaseModel):
    """The plaintext identity; it exists only in memory, on its way in or out.

    What a channel really knows: an SMS to 1708 only the sender's phone, a social-media
    report only the account (`social_handle`); a name is given on the web and in the apps.
    """

    model_config = ConfigDict(frozen=True)

    name: str | None = None
    nik: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None
    social_handle: SocialHandle | None = None

    def contact_key(self) -> str:
        """The stable handle a returning citizen is recognised by: the NIK, else the phone
        (one number however written), else the e-mail, else the social-media account."""
        if self.nik:
            return f"nik:{self.nik}"
        if self.phone:
            return f"phone:{normalise_phone(self.phone)}"
        if self.email:
            return f"email:{self.email.strip().lower()}"
        if self.social_handle:
            return f"social:{self.social_handle.normalised()}"
        raise ValueError(
            "an identity needs a national ID number, a phone, an e-mail or a social handle"
        )


def normalise_phone(phone: str) -> str:
    """+62 8xx: the one form of an Indonesian mobile number written 08xx, 628xx or +628xx.
    Only ASCII digits count (commands.py refuses any other digit before this is reached)."""
    digits = "".join(ch for ch in phone if ch in "0123456789")
    if digits.startswith("0"):
        digits = "62" + digits[1:]
    return "+" + digits


def reporter_ref_for(identity: ReporterIdentity, pepper: bytes) -> str:
    """A keyed hash, so the reference cannot be reversed by hashing every NIK."""
    digest = hmac.new(pepper, identity.contact_key().encode(), hashlib.sha256).hexdigest()
    return f"rep-{digest[:32]}"


class KeyStore(Protocol):
    """Per-reporter keys. A new key is staged, not stored: it is stored with the save of the
    events sealed under it, in the same transaction (lapor_es.unit_of_work.store, with
    lapor_es.recorders), or dropped with them. Staging is per thread (the door's threads
    share one store): a thread's save carries the keys that thread made."""

    def active_key(self, reporter_ref: str, *, new: bool = False) -> tuple[str, bytes]: ...
    def key(self, key_id: str) -> bytes | None: ...
    def erase(self, reporter_ref: str) -> int: ...
    def secret(self, name: str) -> bytes: ...
    def staged_rows(self) -> list[dict[str, Any]]:
        """This thread's staged keys as rows of the key table, for the save's transaction
        (empty for a store that keeps no table)."""
        ...

    def staged_stored(self) -> None:
        """The save that carried `staged_rows` committed: the staged keys are stored."""
        ...

    def write_staged_keys(self) -> None:
        """Store the staged keys in a transaction of their own (for an event store that
        cannot carry them: before its events, which cannot be read without them)."""
        ...

    def discard_staged_keys(self) -> None:
        """The events sealed under the staged keys will not be stored: drop the keys."""
        ...

    def close(self) -> None: ...


def new_key() -> tuple[str, bytes]:
    """A fresh key and its id."""
    return str(uuid.uuid4()), AESGCM.generate_key(bit_length=256)


metadata = MetaData()
reporter_keys = Table(
    "lapor_reporter_keys",
    metadata,
    Column("key_id", String(36), primary_key=True),
    Column("reporter_ref", String(64), nullable=False, index=True),
    Column("key", LargeBinary, nullable=False, comment="wrapped under the key-encryption key"),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
# The previous release kept the embedded default's pepper here; `resolve_pepper` moves it
# out. Nothing is written to this table any more.
secrets_table = Table(
    "lapor_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)


def prepare_tables(engine: Engine) -> None:
    """The key tables at the head of their Alembic history (lapor_es.key_migrations)."""
    from lapor_es import key_migrations  # lazily: it reads this module's metadata

    key_migrations.prepare(engine)


# ---------------------------------------------------------------------- key wrapping
_WRAPPED = b"\x01"  # format byte of a wrapped key: 0x01 | nonce (12) | AES-GCM(key) (48)
_RAW_KEY_LENGTH = 32  # the previous release stored keys unwrapped


def key_encryption_key(pepper: bytes) -> bytes:
    """The key that wraps stored reporter keys, derived from the out-of-store pepper (a
    separate derivation: knowing one output says nothing about the other)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"lapor-es reporter key wrap v1"
    ).derive(pepper)


def wrap_key(kek: bytes, key_id: str, key: bytes) -> bytes:
    nonce = os.urandom(12)
    return _WRAPPED + nonce + AESGCM(kek).encrypt(nonce, key, key_id.encode())


def unwrap_key(kek: bytes, key_id: str, stored: bytes) -> bytes:
    if len(stored) == _RAW_KEY_LENGTH:  # not yet migrated (SqlKeyStore wraps them on open)
        return stored
    if not stored.startswith(_WRAPPED):
        raise ValueError(f"unknown stored key format for key {key_id}")
    return AESGCM(kek).decrypt(stored[1:13], stored[13:], key_id.encode())


# ---------------------------------------------------------------------- the pepper
class PepperError(RuntimeError):
    """The pepper cannot be had safely; the message says what the operator must do."""


@dataclass(frozen=True)
class PepperSource:
    """Where the pepper comes from: a setting, a key file, or (the embedded default only)
    a file generated beside the SQLite database."""

    value: SecretStr | None = None  # LAPOR_REPORTER_PEPPER
    file: Path | None = None  # LAPOR_REPORTER_PEPPER_FILE
    generated_file: Path | None = None  # the embedded default: <database>.pepper


_FILE_PREFIX = "base64:"  # how generated (binary) peppers are written; other text is used as is


def read_pepper_file(path: Path) -> bytes:
    text = path.read_text(encoding="utf-8").strip()
    if not text:
        raise PepperError(f"the reporter pepper file {path} is empty")
    if path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("privacy.pepper_file_readable_by_others", path=str(path))
    if text.startswith(_FILE_PREFIX):
        return base64.b64decode(text.removeprefix(_FILE_PREFIX), validate=True)
    return text.encode()


def write_pepper_file(path: Path, pepper: bytes) -> None:
    """Create `path` with mode 0600, complete or not at all, never replacing a file that
    exists (FileExistsError): written to a private temporary file, then hard-linked."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(_FILE_PREFIX + base64.b64encode(pepper).decode() + "\n")
            out.flush()
            os.fsync(out.fileno())
        os.link(temporary, path)
    finally:
        temporary.unlink()


def resolve_pepper(engine: Engine, source: PepperSource) -> bytes:
    """The pepper, from the setting, the key file or the embedded default's generated file;
    a pepper the previous release kept in the database is moved out (and purged) or, where
    there is nowhere safe to put it, refused with what to do. Never stored in the database."""
    prepare_tables(engine)
    legacy = _legacy_pepper(engine)
    configured = _configured_pepper(source)
    if configured is None and source.file is not None and legacy is not None:
        write_pepper_file(source.file, legacy)  # the operator named the place: move it there
        configured = legacy
    if configured is None and source.generated_file is not None:
        if source.generated_file.exists():
            configured = read_pepper_file(source.generated_file)
        else:
            pepper = legacy if legacy is not None else os.urandom(32)
            with contextlib.suppress(FileExistsError):  # another process was first: theirs
                write_pepper_file(source.generated_file, pepper)
            configured = read_pepper_file(source.generated_file)
    if configured is None:
        where = (
            "the database holds the pepper of the previous release; set "
            "LAPOR_REPORTER_PEPPER_FILE to a path outside the database and start again: it "
            "is moved there"
            if legacy is not None
            else "set LAPOR_REPORTER_PEPPER_FILE to a file holding a random secret (e.g. "
            "`openssl rand -base64 32 | sed 's/^/base64:/' > FILE; chmod 600 FILE`) or "
            "LAPOR_REPORTER_PEPPER"
        )
        raise PepperError(f"no reporter pepper configured for this database: {where}")
    if legacy is not None:
        if legacy != configured:
            raise PepperError(
                "the database holds a reporter pepper from the previous release that differs "
                "from the configured one; starting would give every returning reporter a new "
                "reference. Configure the stored pepper (move it to LAPOR_REPORTER_PEPPER_FILE "
                "by unsetting LAPOR_REPORTER_PEPPER once) or delete it from lapor_secrets if "
                "the change is intended"
            )
        _drop_legacy_pepper(engine)
    return configured


def _configured_pepper(source: PepperSource) -> bytes | None:
    if source.value is not None:
        return source.value.get_secret_value().encode()
    if source.file is not None and source.file.exists():
        return read_pepper_file(source.file)
    return None


def _legacy_pepper(engine: Engine) -> bytes | None:
    with engine.connect() as conn:
        value = conn.execute(
            select(secrets_table.c.value).where(secrets_table.c.name == PEPPER)
        ).scalar()
    return bytes(value) if value is not None else None


def _drop_legacy_pepper(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.execute(delete(secrets_table).where(secrets_table.c.name == PEPPER))
    purge_deleted(engine, [secrets_table])
    log.info("privacy.pepper_moved_out_of_the_database")


# ---------------------------------------------------------------------- purging
# How often a checkpoint that met a reader is tried again before giving up (logged).
_CHECKPOINT_ATTEMPTS = 20
_VACUUM_LOCK_TIMEOUT = "10s"


def secure_delete_on_sqlite(engine: Engine) -> Engine:
    """SQLite overwrites deleted content with zeros on every connection of `engine`, instead
    of relying on the build's SQLITE_SECURE_DELETE default (usually off)."""
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _secure_delete):
        event.listen(engine, "connect", _secure_delete)
    return engine


def _secure_delete(dbapi_connection: Any, _: Any) -> None:
    dbapi_connection.execute("PRAGMA secure_delete = ON")


def purge_deleted(engine: Engine, tables: list[Table]) -> bool:
    """Make rows just deleted from `tables` unreadable in the database's files. Returns
    False (logged) when the database would not let it finish; the deletion itself stands.

    SQLite (with secure_delete on): the zeroed pages sit in the WAL while the old ones stay
    in the main file until a checkpoint; `wal_checkpoint(TRUNCATE)` copies them back and
    empties the WAL. PostgreSQL: a deleted row stays in its page as a dead tuple until
    vacuumed, and plain VACUUM only marks the space free (the bytes stay until reused);
    VACUUM FULL writes the table anew without them. What neither can reach (PostgreSQL's
    WAL, backups, replicas, the file system's freed blocks) is in docs/privacy.md.
    """
    with engine.connect() as conn:
        autocommit = conn.execution_options(isolation_level="AUTOCOMMIT")
        if engine.dialect.name == "sqlite":
            return _checkpoint(autocommit)
        return _vacuum_full(autocommit, tables)


def _checkpoint(conn: Connection) -> bool:
    for attempt in range(_CHECKPOINT_ATTEMPTS):
        busy, _, _ = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        if not busy:
            return True
        time.sleep(0.05 * (attempt + 1))  # a reader holds an old snapshot: wait for it
    log.warning("privacy.checkpoint_incomplete", attempts=_CHECKPOINT_ATTEMPTS)
    return False


def _vacuum_full(conn: Connection, tables: list[Table]) -> bool:
    try:
        conn.exec_driver_sql(f"SET lock_timeout = '{_VACUUM_LOCK_TIMEOUT}'")
        for table in tables:
            conn.exec_driver_sql(f'VACUUM (FULL) "{table.name}"')
    except DBAPIError as exc:  # a long transaction holds the table, or not its owner
        log.warning("privacy.vacuum_failed", error=str(exc.orig))
        return False
    return True


# ---------------------------------------------------------------------- the store
class _Staged(threading.local):
    """One thread's new keys: reporter ref -> (key id, key), until its save."""

    def __init__(self) -> None:
        self.keys: dict[str, tuple[str, bytes]] = {}


_DEAD_CONNECTION_ATTEMPTS = 3
_F = TypeVar("_F", bound=Callable[..., Any])


def retry_dead_connection(read: _F) -> _F:
    """Run a read again when its pooled connection turned out dead (the server restarted):
    the engine has no per-checkout ping; SQLAlchemy invalidates the pool on such an error,
    so the next attempt gets a fresh connection."""

    @functools.wraps(read)
    def retried(*args: Any, **kwargs: Any) -> Any:
        for attempt in range(_DEAD_CONNECTION_ATTEMPTS):
            try:
                return read(*args, **kwargs)
            except DBAPIError as exc:
                if not exc.connection_invalidated or attempt == _DEAD_CONNECTION_ATTEMPTS - 1:
                    raise
                log.warning("privacy.dead_connection_retried", attempt=attempt + 1)
        raise AssertionError("unreachable")

    return cast(_F, retried)


class SqlKeyStore:
    """Reporter keys in the same database as the event store (SQLite or PostgreSQL),
    wrapped under a key-encryption key derived from the pepper, which is not stored there.

    The store owns the engine it is given: `close()` disposes it."""

    def __init__(self, engine: Engine, pepper: bytes) -> None:
        self.engine = secure_delete_on_sqlite(engine)
        self._pepper = pepper
        self._kek = key_encryption_key(pepper)
        prepare_tables(engine)
        self._wrap_raw_keys()
        self._local = _Staged()  # new keys wait here until the save that needs them

    @classmethod
    def open(cls, engine: Engine, source: PepperSource) -> SqlKeyStore:
        """The store with its pepper resolved (moved out of the database if it was there)."""
        try:
            secure_delete_on_sqlite(engine)  # before the first connection: the pepper's purge
            return cls(engine, resolve_pepper(engine, source))
        except BaseException:
            engine.dispose()
            raise

    def _wrap_raw_keys(self) -> None:
        """Wrap the keys the previous release stored in the clear (once; then purged)."""
        with self.engine.begin() as conn:
            raw = conn.execute(
                select(reporter_keys.c.key_id, reporter_keys.c.key).where(
                    func.length(reporter_keys.c.key) == _RAW_KEY_LENGTH
                )
            ).all()
            for key_id, key in raw:
                conn.execute(
                    update(reporter_keys)
                    .where(reporter_keys.c.key_id == key_id)
                    .values(key=wrap_key(self._kek, key_id, bytes(key)))
                )
        if raw:
            purge_deleted(self.engine, [reporter_keys])
            log.info("privacy.keys_wrapped", keys=len(raw))

    def _row(self, key_id: str, reporter_ref: str, key: bytes, at: datetime) -> dict[str, Any]:
        wrapped = wrap_key(self._kek, key_id, key)
        return {"key_id": key_id, "reporter_ref": reporter_ref, "key": wrapped, "created_at": at}

    def active_key(self, reporter_ref: str, *, new: bool = False) -> tuple[str, bytes]:
        """The reporter's newest key, created if there is none. `new=True` (a reporter the
        store has never seen) creates one without looking; an orphan key left by a failed
        filing is then simply superseded."""
        staged = self._local.keys
        if reporter_ref in staged:
            return staged[reporter_ref]
        row = None if new else self._newest_key(reporter_ref)
        if row is not None:
            return row
        staged[reporter_ref] = new_key()
        return staged[reporter_ref]

    @retry_dead_connection
    def _newest_key(self, reporter_ref: str) -> tuple[str, bytes] | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(reporter_keys.c.key_id, reporter_keys.c.key)
                .where(reporter_keys.c.reporter_ref == reporter_ref)
                .order_by(reporter_keys.c.created_at.desc())
                .limit(1)
            ).first()
        if row is None:
            return None
        return str(row.key_id), unwrap_key(self._kek, str(row.key_id), bytes(row.key))

    def staged_rows(self) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        return [self._row(kid, ref, key, now) for ref, (kid, key) in self._local.keys.items()]

    def staged_stored(self) -> None:
        self._local.keys.clear()

    def write_staged_keys(self) -> None:
        rows = self.staged_rows()
        if rows:
            with self.engine.begin() as conn:
                conn.execute(insert(reporter_keys), rows)
        self.staged_stored()

    def discard_staged_keys(self) -> None:
        self._local.keys.clear()

    def key(self, key_id: str) -> bytes | None:
        for staged_id, key in self._local.keys.values():
            if staged_id == key_id:
                return key
        return self._stored_key(key_id)

    @retry_dead_connection
    def _stored_key(self, key_id: str) -> bytes | None:
        with self.engine.connect() as conn:
            value = conn.execute(
                select(reporter_keys.c.key).where(reporter_keys.c.key_id == key_id)
            ).scalar()
        return unwrap_key(self._kek, key_id, bytes(value)) if value is not None else None

    def erase(self, reporter_ref: str) -> int:
        """Delete the reporter's keys, then purge them from the database's files."""
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(reporter_keys).where(reporter_keys.c.reporter_ref == reporter_ref)
            )
        deleted = int(result.rowcount)
        if deleted:
            purge_deleted(self.engine, [reporter_keys])
        return deleted

    def secret(self, name: str) -> bytes:
        """The out-of-store pepper (the only secret the store is asked for)."""
        if name != PEPPER:
            raise KeyError(f"no secret {name!r}: only the reporter pepper is kept")
        return self._pepper

    def close(self) -> None:
        self.engine.dispose()


class InMemoryKeyStore:
    """Reporter keys in a dict: the same contract as SqlKeyStore, gone with the process."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, bytes]] = {}  # key id -> (reporter ref, key)
        self._newest: dict[str, str] = {}  # reporter ref -> its newest key id
        self._secrets: dict[str, bytes] = {}
        self._local = _Staged()

    def active_key(self, reporter_ref: str, *, new: bool = False) -> tuple[str, bytes]:
        staged = self._local.keys
        if reporter_ref in staged:
            return staged[reporter_ref]
        newest = None if new else self._newest.get(reporter_ref)
        if newest is not None:
            return newest, self._keys[newest][1]
        staged[reporter_ref] = new_key()
        return staged[reporter_ref]

    def _store(self, reporter_ref: str, key_id: str, key: bytes) -> None:
        self._keys[key_id] = (reporter_ref, key)
        self._newest[reporter_ref] = key_id

    def key(self, key_id: str) -> bytes | None:
        for staged_id, key in self._local.keys.values():
            if staged_id == key_id:
                return key
        stored = self._keys.get(key_id)
        return stored[1] if stored is not None else None

    def erase(self, reporter_ref: str) -> int:
        doomed = [kid for kid, (ref, _) in self._keys.items() if ref == reporter_ref]
        for key_id in doomed:
            del self._keys[key_id]
        self._newest.pop(reporter_ref, None)
        return len(doomed)

    def secret(self, name: str) -> bytes:
        return self._secrets.setdefault(name, os.urandom(32))

    def staged_rows(self) -> list[dict[str, Any]]:
        return []  # no table: `staged_stored` keeps them once the events are saved

    def staged_stored(self) -> None:
        for reporter_ref, (key_id, key) in self._local.keys.items():
            self._store(reporter_ref, key_id, key)
        self._local.keys.clear()

    def write_staged_keys(self) -> None:
        self.staged_stored()

    def discard_staged_keys(self) -> None:
        self._local.keys.clear()

    def close(self) -> None:
        """Nothing to release."""


def open_vault(keys: KeyStore, pepper: SecretStr | None) -> IdentityVault:
    """The vault over `keys`, with the configured pepper or, unset, the one the key store
    resolved (a key file; the embedded default's generated file)."""
    secret = pepper.get_secret_value().encode() if pepper else keys.secret(PEPPER)
    return IdentityVault(keys, secret)


class IdentityVault:
    """Seals and opens identities with the reporter's own key."""

    def __init__(self, keys: KeyStore, pepper: bytes) -> None:
        self.keys = keys
        self.pepper = pepper

    def reporter_ref(self, identity: ReporterIdentity) -> str:
        return reporter_ref_for(identity, self.pepper)

    def seal(
        self, reporter_ref: str, identity: ReporterIdentity, *, new_reporter: bool = False
    ) -> str:
        """Encrypt under the reporter's key; `new_reporter` skips looking for an old key."""
        key_id, key = self.keys.active_key(reporter_ref, new=new_reporter)
        nonce = os.urandom(12)
        ciphertext = AESGCM(key).encrypt(
            nonce, identity.model_dump_json().encode(), reporter_ref.encode()
        )
        blob = base64.urlsafe_b64encode(nonce + ciphertext).decode()
        return f"{TOKEN_VERSION}:{key_id}:{blob}"

    def open(self, reporter_ref: str, token: str) -> ReporterIdentity | None:
        """The identity, or None when the reporter's key has been erased."""
        version, key_id, blob = token.split(":", 2)
        if version != TOKEN_VERSION:
            raise ValueError(f"unknown identity token version {version!r}")
        key = self.keys.key(key_id)
        if key is None:
            return None
        raw = base64.urlsafe_b64decode(blob)
        plaintext = AESGCM(key).decrypt(raw[:12], raw[12:], reporter_ref.encode())
        return ReporterIdentity.model_validate_json(plaintext)

    def erase(self, reporter_ref: str) -> int:
        return self.keys.erase(reporter_ref)
