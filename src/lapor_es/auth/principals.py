"""Principals: the named holders of bearer tokens who knock on the door (design.md section 7).

A token is `lpr_<principal id>_<secret>`. The id is public (it names the principal in logs and
in `lapor-es principals list`); the secret is `secrets.token_urlsafe(32)`, 256 bits from the
operating system's CSPRNG, shown once and stored only as its SHA-256 digest. A slow password
KDF (bcrypt, argon2) exists to protect guessable human passwords; a 256-bit random secret
cannot be guessed, so one SHA-256 is enough, and the door stays fast on every request.

Two stores behind one protocol: `SqlPrincipalStore` (the event store's database, tables
migrated by `lapor_es.auth.migrations`) and `InMemoryPrincipalStore` (tests, in-memory apps).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import Engine, insert, select, update
from sqlalchemy.exc import IntegrityError

from lapor_es.aggregates.values import Channel
from lapor_es.auth.tables import principals, utc

TOKEN_PREFIX = "lpr"
_ID_BYTES = 6  # 12 hex characters: a public name, not a secret; collisions are retried
_SECRET_BYTES = 32  # 256 bits
_TOKEN = re.compile(r"lpr_(?P<id>[0-9a-f]{12})_(?P<secret>[A-Za-z0-9_-]{43})")
_NAME = re.compile(r"\w[\w .@:-]{0,127}")
_AGENCY = re.compile(r"[A-Z0-9][A-Z0-9.-]{1,63}")  # commands.AgencyCode
# Compared against when the id is unknown, so that path does the same work as a wrong secret.
_NO_SUCH_HASH = hashlib.sha256(b"no such principal").hexdigest()


class PrincipalRole(StrEnum):
    NATIONAL_ADMIN = "national_admin"  # desk officer
    AGENCY_ADMIN = "agency_admin"  # bound to one agency code; acts for it and its units
    CHANNEL = "channel"  # a portal, the SMS 1708 gateway, an app: files for citizens
    AUDITOR = "auditor"  # reads and verifies history
    ANALYST = "analyst"  # statistics only
    SYSTEM = "system"  # timers


@dataclass(frozen=True)
class Principal:
    id: str
    name: str
    role: PrincipalRole
    agency: str | None
    channel: Channel | None
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None

    def active_at(self, now: datetime) -> bool:
        if self.revoked_at is not None and self.revoked_at <= now:
            return False
        return self.expires_at is None or now < self.expires_at


class UnknownPrincipal(LookupError):
    def __init__(self, principal_id: str) -> None:
        super().__init__(f"no principal {principal_id!r}")
        self.principal_id = principal_id


class InvalidPrincipal(ValueError):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PrincipalStore(Protocol):
    def add(
        self,
        name: str,
        role: PrincipalRole,
        *,
        agency: str | None = None,
        channel: Channel | None = None,
        expires_at: datetime | None = None,
        now: datetime,
    ) -> tuple[Principal, str]:
        """A new principal and its token (shown once: only its hash is kept)."""
        ...

    def authenticate(self, token: str, now: datetime) -> Principal | None:
        """The principal holding `token`; None if malformed, unknown, revoked or expired."""
        ...

    def get(self, principal_id: str) -> Principal | None: ...

    def list(self) -> list[Principal]: ...

    def revoke(self, principal_id: str, now: datetime) -> Principal:
        """Stop the principal's token from working (idempotent: the first revocation holds)."""
        ...

    def rotate(self, principal_id: str, now: datetime) -> tuple[Principal, str]:
        """A new token for the principal; the old one stops working at once."""
        ...


# ----------------------------------------------------------------------- tokens and rules
def new_principal_id() -> str:
    return secrets.token_hex(_ID_BYTES)


def new_secret() -> str:
    return secrets.token_urlsafe(_SECRET_BYTES)


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode("ascii")).hexdigest()


def token_for(principal_id: str, secret: str) -> str:
    return f"{TOKEN_PREFIX}_{principal_id}_{secret}"


def parse_token(token: str) -> tuple[str, str] | None:
    """(principal id, secret) of a well-formed token, else None."""
    match = _TOKEN.fullmatch(token) if isinstance(token, str) else None
    return (match["id"], match["secret"]) if match else None


def secret_matches(stored_hash: str | None, secret: str) -> bool:
    """Constant-time comparison of digests; an unknown principal compares against a dummy."""
    presented = secret_hash(secret)
    return hmac.compare_digest(stored_hash or _NO_SUCH_HASH, presented) and stored_hash is not None


def aware(value: datetime, what: str) -> datetime:
    if value.tzinfo is None:
        raise InvalidPrincipal(f"{what} must carry a time zone")
    return value.astimezone(UTC)


def validated(
    name: str,
    role: PrincipalRole | str,
    agency: str | None,
    channel: Channel | str | None,
    expires_at: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    """The columns of a new principal, or InvalidPrincipal naming the rule broken."""
    name = name.strip()
    if not _NAME.fullmatch(name):
        raise InvalidPrincipal(
            "a name is 1-128 letters, digits, spaces or . @ : - _ and starts with a letter or digit"
        )
    try:
        role = PrincipalRole(role)
    except ValueError:
        known = ", ".join(PrincipalRole)
        raise InvalidPrincipal(f"unknown role {role!r}: use one of {known}") from None
    if role == PrincipalRole.AGENCY_ADMIN and not agency:
        raise InvalidPrincipal("an agency_admin is bound to one agency: give its code")
    if role != PrincipalRole.AGENCY_ADMIN and agency:
        raise InvalidPrincipal(f"a {role} principal is bound to no agency")
    if agency and not _AGENCY.fullmatch(agency):
        raise InvalidPrincipal(f"{agency!r} is not an agency code (e.g. KEMENKES)")
    if role == PrincipalRole.CHANNEL and not channel:
        raise InvalidPrincipal(f"a channel principal needs its channel: one of {_channels()}")
    if role != PrincipalRole.CHANNEL and channel:
        raise InvalidPrincipal(f"a {role} principal files through no channel")
    try:
        channel = Channel(channel) if channel else None
    except ValueError:
        raise InvalidPrincipal(f"unknown channel {channel!r}: use one of {_channels()}") from None
    now = aware(now, "now")
    if expires_at is not None and aware(expires_at, "expires_at") <= now:
        raise InvalidPrincipal("expires_at must be in the future")
    return {
        "name": name,
        "role": role,
        "agency": agency,
        "channel": channel,
        "created_at": now,
        "expires_at": None if expires_at is None else aware(expires_at, "expires_at"),
    }


def _channels() -> str:
    return ", ".join(Channel)


# ----------------------------------------------------------------------- in memory
class InMemoryPrincipalStore:
    """Principals in a dict: for tests and in-memory apps. Same rules as the SQL store."""

    def __init__(self) -> None:
        self._principals: dict[str, Principal] = {}
        self._hashes: dict[str, str] = {}

    def add(
        self,
        name: str,
        role: PrincipalRole,
        *,
        agency: str | None = None,
        channel: Channel | None = None,
        expires_at: datetime | None = None,
        now: datetime,
    ) -> tuple[Principal, str]:
        fields = validated(name, role, agency, channel, expires_at, now)
        if any(p.name == fields["name"] for p in self._principals.values()):
            raise InvalidPrincipal(f"a principal named {fields['name']!r} exists already")
        principal_id = new_principal_id()
        while principal_id in self._principals:
            principal_id = new_principal_id()
        principal = Principal(id=principal_id, **fields)
        secret = new_secret()
        self._principals[principal_id] = principal
        self._hashes[principal_id] = secret_hash(secret)
        return principal, token_for(principal_id, secret)

    def authenticate(self, token: str, now: datetime) -> Principal | None:
        parsed = parse_token(token)
        if parsed is None:
            return None
        principal_id, secret = parsed
        if not secret_matches(self._hashes.get(principal_id), secret):
            return None
        principal = self._principals[principal_id]
        return principal if principal.active_at(now) else None

    def get(self, principal_id: str) -> Principal | None:
        return self._principals.get(principal_id)

    def list(self) -> list[Principal]:
        return sorted(self._principals.values(), key=lambda p: (p.created_at, p.name))

    def revoke(self, principal_id: str, now: datetime) -> Principal:
        principal = self._existing(principal_id)
        if principal.revoked_at is None:
            principal = replace(principal, revoked_at=aware(now, "now"))
            self._principals[principal_id] = principal
        return principal

    def rotate(self, principal_id: str, now: datetime) -> tuple[Principal, str]:
        principal = self._existing(principal_id)
        if not principal.active_at(aware(now, "now")):
            raise InvalidPrincipal(f"principal {principal_id} is revoked or expired: add a new one")
        secret = new_secret()
        self._hashes[principal_id] = secret_hash(secret)
        return principal, token_for(principal_id, secret)

    def _existing(self, principal_id: str) -> Principal:
        principal = self._principals.get(principal_id)
        if principal is None:
            raise UnknownPrincipal(principal_id)
        return principal


# ----------------------------------------------------------------------- SQL
class SqlPrincipalStore:
    """Principals in `auth_principals` on the event store's database (SQLite or PostgreSQL).

    The tables must exist: `lapor_es.auth.migrations.prepare(engine)` (bootstrap runs it)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(
        self,
        name: str,
        role: PrincipalRole,
        *,
        agency: str | None = None,
        channel: Channel | None = None,
        expires_at: datetime | None = None,
        now: datetime,
    ) -> tuple[Principal, str]:
        fields = validated(name, role, agency, channel, expires_at, now)
        secret = new_secret()
        for _ in range(5):  # an id collision (1 in 2**48 per pair) is simply retried
            principal = Principal(id=new_principal_id(), **fields)
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        insert(principals).values(
                            **_row(principal), secret_hash=secret_hash(secret)
                        )
                    )
            except IntegrityError:
                if self._named(fields["name"]):
                    raise InvalidPrincipal(
                        f"a principal named {fields['name']!r} exists already"
                    ) from None
                continue
            return principal, token_for(principal.id, secret)
        raise RuntimeError("could not allocate a principal id")

    def authenticate(self, token: str, now: datetime) -> Principal | None:
        parsed = parse_token(token)
        if parsed is None:
            return None
        principal_id, secret = parsed
        with self.engine.connect() as conn:
            row = conn.execute(select(principals).where(principals.c.id == principal_id)).first()
        stored = None if row is None else str(row.secret_hash)
        if row is None or not secret_matches(stored, secret):
            return None
        principal = _principal(row)
        return principal if principal.active_at(now) else None

    def get(self, principal_id: str) -> Principal | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(principals).where(principals.c.id == principal_id)).first()
        return None if row is None else _principal(row)

    def list(self) -> list[Principal]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(principals).order_by(principals.c.created_at, principals.c.name)
            ).all()
        return [_principal(row) for row in rows]

    def revoke(self, principal_id: str, now: datetime) -> Principal:
        with self.engine.begin() as conn:
            conn.execute(
                update(principals)
                .where(principals.c.id == principal_id, principals.c.revoked_at.is_(None))
                .values(revoked_at=aware(now, "now"))
            )
        return self._existing(principal_id)

    def rotate(self, principal_id: str, now: datetime) -> tuple[Principal, str]:
        principal = self._existing(principal_id)
        if not principal.active_at(aware(now, "now")):
            raise InvalidPrincipal(f"principal {principal_id} is revoked or expired: add a new one")
        secret = new_secret()
        with self.engine.begin() as conn:
            changed = conn.execute(
                update(principals)
                .where(principals.c.id == principal_id, principals.c.revoked_at.is_(None))
                .values(secret_hash=secret_hash(secret))
            ).rowcount
        if changed != 1:  # revoked between the read and the write
            raise InvalidPrincipal(f"principal {principal_id} is revoked: add a new one")
        return principal, token_for(principal_id, secret)

    def _existing(self, principal_id: str) -> Principal:
        principal = self.get(principal_id)
        if principal is None:
            raise UnknownPrincipal(principal_id)
        return principal

    def _named(self, name: str) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(select(principals.c.id).where(principals.c.name == name)).first()
        return found is not None


def _row(principal: Principal) -> dict[str, Any]:
    return {
        "id": principal.id,
        "name": principal.name,
        "role": str(principal.role),
        "agency": principal.agency,
        "channel": None if principal.channel is None else str(principal.channel),
        "created_at": principal.created_at,
        "expires_at": principal.expires_at,
        "revoked_at": principal.revoked_at,
    }


def _principal(row: Any) -> Principal:
    return Principal(
        id=row.id,
        name=row.name,
        role=PrincipalRole(row.role),
        agency=row.agency,
        channel=None if row.channel is None else Channel(row.channel),
        created_at=utc(row.created_at),
        expires_at=None if row.expires_at is None else utc(row.expires_at),
        revoked_at=None if row.revoked_at is None else utc(row.revoked_at),
    )
