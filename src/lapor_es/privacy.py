"""Reporter identity: pseudonymous references, per-reporter keys, crypto-shredding.

A reporter's identity (name, national ID number, phone, e-mail, address) is sealed with
AES-GCM under a key that belongs to that reporter alone, and only the sealed token goes
into events. Erasing a reporter deletes their keys: every event still loads and replays,
but the identity can never be read again.

Keys live behind the `KeyStore` protocol, chosen in one place (lapor_es.bootstrap) and
handed to LaporApp: `SqlKeyStore` keeps them in a table beside the event store,
`InMemoryKeyStore` in a dict (the in-memory application of the fast service tests).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import uuid
from datetime import UTC, datetime
from typing import Protocol

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import BaseModel, ConfigDict, SecretStr
from sqlalchemy import (
    Column,
    DateTime,
    Engine,
    LargeBinary,
    MetaData,
    String,
    Table,
    delete,
    insert,
    select,
)
from sqlalchemy.exc import IntegrityError

TOKEN_VERSION = "v1"
ERASED = "[erased]"


class ReporterIdentity(BaseModel):
    """The plaintext identity; it exists only in memory, on its way in or out."""

    model_config = ConfigDict(frozen=True)

    name: str
    nik: str | None = None
    phone: str | None = None
    email: str | None = None
    address: str | None = None

    def contact_key(self) -> str:
        """The stable handle a returning citizen is recognised by."""
        if self.nik:
            return f"nik:{self.nik}"
        if self.phone:
            return f"phone:{normalise_phone(self.phone)}"
        if self.email:
            return f"email:{self.email.strip().lower()}"
        raise ValueError("an identity needs a national ID number, a phone or an e-mail")


def normalise_phone(phone: str) -> str:
    digits = "".join(ch for ch in phone if ch.isdigit())
    if digits.startswith("0"):
        digits = "62" + digits[1:]
    return "+" + digits


def reporter_ref_for(identity: ReporterIdentity, pepper: bytes) -> str:
    """A keyed hash, so the reference cannot be reversed by hashing every NIK."""
    digest = hmac.new(pepper, identity.contact_key().encode(), hashlib.sha256).hexdigest()
    return f"rep-{digest[:32]}"


class KeyStore(Protocol):
    """Per-reporter keys. While a batch of commands runs (lapor_es.unit_of_work.Batch), new
    keys are deferred: held back, then written just before the batch's events, or dropped."""

    def active_key(self, reporter_ref: str, *, new: bool = False) -> tuple[str, bytes]: ...
    def key(self, key_id: str) -> bytes | None: ...
    def erase(self, reporter_ref: str) -> int: ...
    def secret(self, name: str) -> bytes: ...
    def defer_new_keys(self) -> None: ...
    def write_deferred_keys(self) -> None: ...
    def discard_deferred_keys(self) -> None: ...
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
    Column("key", LargeBinary, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
)
secrets_table = Table(
    "lapor_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", LargeBinary, nullable=False),
)


class SqlKeyStore:
    """Reporter keys in the same database as the event store (SQLite or PostgreSQL).

    The store owns the engine it is given: `close()` disposes it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        metadata.create_all(engine)
        # While a batch of commands runs, new keys wait here and are written in one
        # transaction just before the batch's events (see LaporApp.handle_many).
        self._deferred: dict[str, tuple[str, bytes]] | None = None

    def active_key(self, reporter_ref: str, *, new: bool = False) -> tuple[str, bytes]:
        """The reporter's newest key, created if there is none. `new=True` (a reporter the
        store has never seen) creates one without looking; an orphan key left by a failed
        filing is then simply superseded."""
        if self._deferred is not None and reporter_ref in self._deferred:
            return self._deferred[reporter_ref]
        if new and self._deferred is not None:
            self._deferred[reporter_ref] = new_key()
            return self._deferred[reporter_ref]
        with self.engine.begin() as conn:
            row = (
                None
                if new
                else conn.execute(
                    select(reporter_keys.c.key_id, reporter_keys.c.key)
                    .where(reporter_keys.c.reporter_ref == reporter_ref)
                    .order_by(reporter_keys.c.created_at.desc())
                    .limit(1)
                ).first()
            )
            if row is not None:
                return str(row.key_id), bytes(row.key)
            key_id, key = new_key()
            if self._deferred is not None:
                self._deferred[reporter_ref] = (key_id, key)
                return key_id, key
            conn.execute(
                insert(reporter_keys).values(
                    key_id=key_id, reporter_ref=reporter_ref, key=key, created_at=datetime.now(UTC)
                )
            )
            return key_id, key

    def defer_new_keys(self) -> None:
        self._deferred = {}

    def write_deferred_keys(self) -> None:
        """Persist the batch's new keys (before its events, which cannot be read without)."""
        pending, self._deferred = self._deferred or {}, None
        if pending:
            now = datetime.now(UTC)
            with self.engine.begin() as conn:
                conn.execute(
                    insert(reporter_keys),
                    [
                        {"key_id": key_id, "reporter_ref": ref, "key": key, "created_at": now}
                        for ref, (key_id, key) in pending.items()
                    ],
                )

    def discard_deferred_keys(self) -> None:
        self._deferred = None

    def key(self, key_id: str) -> bytes | None:
        for deferred_id, key in (self._deferred or {}).values():
            if deferred_id == key_id:
                return key
        with self.engine.connect() as conn:
            value = conn.execute(
                select(reporter_keys.c.key).where(reporter_keys.c.key_id == key_id)
            ).scalar()
        return bytes(value) if value is not None else None

    def erase(self, reporter_ref: str) -> int:
        with self.engine.begin() as conn:
            result = conn.execute(
                delete(reporter_keys).where(reporter_keys.c.reporter_ref == reporter_ref)
            )
        return int(result.rowcount)

    def secret(self, name: str) -> bytes:
        """A generated secret kept in the database (the embedded default's pepper)."""
        with self.engine.begin() as conn:
            value = conn.execute(
                select(secrets_table.c.value).where(secrets_table.c.name == name)
            ).scalar()
            if value is not None:
                return bytes(value)
        candidate = os.urandom(32)
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(secrets_table).values(name=name, value=candidate))
        except IntegrityError:
            pass  # another process created it first; use theirs
        return self.secret(name)

    def close(self) -> None:
        self.engine.dispose()


class InMemoryKeyStore:
    """Reporter keys in a dict: the same contract as SqlKeyStore, gone with the process."""

    def __init__(self) -> None:
        self._keys: dict[str, tuple[str, bytes]] = {}  # key id -> (reporter ref, key)
        self._newest: dict[str, str] = {}  # reporter ref -> its newest key id
        self._secrets: dict[str, bytes] = {}
        self._deferred: dict[str, tuple[str, bytes]] | None = None

    def active_key(self, reporter_ref: str, *, new: bool = False) -> tuple[str, bytes]:
        if self._deferred is not None and reporter_ref in self._deferred:
            return self._deferred[reporter_ref]
        newest = None if new else self._newest.get(reporter_ref)
        if newest is not None:
            return newest, self._keys[newest][1]
        key_id, key = new_key()
        if self._deferred is not None:
            self._deferred[reporter_ref] = (key_id, key)
        else:
            self._store(reporter_ref, key_id, key)
        return key_id, key

    def _store(self, reporter_ref: str, key_id: str, key: bytes) -> None:
        self._keys[key_id] = (reporter_ref, key)
        self._newest[reporter_ref] = key_id

    def key(self, key_id: str) -> bytes | None:
        for deferred_id, key in (self._deferred or {}).values():
            if deferred_id == key_id:
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

    def defer_new_keys(self) -> None:
        self._deferred = {}

    def write_deferred_keys(self) -> None:
        pending, self._deferred = self._deferred or {}, None
        for reporter_ref, (key_id, key) in pending.items():
            self._store(reporter_ref, key_id, key)

    def discard_deferred_keys(self) -> None:
        self._deferred = None

    def close(self) -> None:
        """Nothing to release."""


def open_vault(keys: KeyStore, pepper: SecretStr | None) -> IdentityVault:
    """The vault over `keys`, with the configured pepper or, unset (the embedded default),
    one generated once and kept by the key store."""
    secret = pepper.get_secret_value().encode() if pepper else keys.secret("reporter-pepper")
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
