"""Reporter identity never reaches the database in plaintext, on either store."""

from __future__ import annotations

import shutil
import stat
from pathlib import Path

import psycopg
import pytest
from cryptography.exceptions import InvalidTag
from pydantic import SecretStr
from sqlalchemy import create_engine, insert, select, update

from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.commands import parse_command
from lapor_es.config import Settings, sqlalchemy_url, sqlite_path
from lapor_es.privacy import (
    PEPPER,
    PepperError,
    ReporterIdentity,
    key_encryption_key,
    read_pepper_file,
    reporter_keys,
    reporter_ref_for,
    secrets_table,
    unwrap_key,
)
from tests.conftest import fresh_postgres_database
from tests.support.builders import DESK, NIK, PHONE, file_cmd, small_directory

pytestmark = pytest.mark.integration
EMAIL = "dewi.lestari@example.id"
NAME = "Dewi Lestari"
SECRETS = [PHONE.encode(), NIK.encode(), EMAIL.encode(), NAME.encode()]


def sqlite_files(settings: Settings) -> list[Path]:
    """The database file and its WAL and shared-memory files (not the pepper beside them)."""
    path = sqlite_path(settings.database_url)
    candidates = [path.with_name(path.name + suffix) for suffix in ("", "-wal", "-shm", "-journal")]
    return [p for p in candidates if p.exists()]


def raw_database_bytes(settings: Settings) -> bytes:
    """Every byte the database holds: the SQLite files, or every row of every PG table."""
    if settings.is_sqlite:
        return b"".join(p.read_bytes() for p in sqlite_files(settings))
    chunks: list[bytes] = []
    with psycopg.connect(settings.database_url) as conn:
        tables = conn.execute(
            "SELECT schemaname, tablename FROM pg_tables "
            "WHERE schemaname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchall()
        assert len(tables) >= 3, tables
        for schema, table in tables:
            for row in conn.execute(f'SELECT * FROM "{schema}"."{table}"'):
                for value in row:
                    if isinstance(value, bytes | bytearray | memoryview):
                        chunks.append(bytes(value))
                    elif value is not None:
                        chunks.append(str(value).encode())
    return b"\n".join(chunks)


def test_identity_is_not_stored_in_plaintext(lapor: LaporApp, settings: Settings) -> None:
    small_directory(lapor)
    reporter = {
        "name": NAME,
        "phone": PHONE,
        "nik": NIK,
        "email": EMAIL,
        "address": "Jl. Merdeka 1",
    }
    out = lapor.handle(parse_command(file_cmd(reporter=reporter)))
    lapor.handle(
        parse_command(
            {
                "command": "verify",
                "actor": DESK,
                "complaint": out.tracking_id,
                "title": "Air PDAM",
                "category": "Air Bersih",
                "kind": "complaint",
                "visibility": "anonymous",
                "to_agency": "KEMENKES",
            }
        )
    )
    # Readable through the vault while the key exists ...
    identity = lapor.identity(lapor.complaint(str(out.tracking_id)))
    assert identity is not None and identity.phone == PHONE
    # ... but nowhere in the database's bytes.
    raw = raw_database_bytes(settings)
    assert out.tracking_id and out.tracking_id.encode() in raw  # the scan does see the data
    for secret in SECRETS:
        assert secret not in raw, f"plaintext {secret!r} found in the database"


def test_scan_finds_plaintext_when_it_is_there(lapor: LaporApp, settings: Settings) -> None:
    """The scan above can fail: a description with a phone number in it is found."""
    small_directory(lapor)
    lapor.handle(parse_command(file_cmd(description=f"Hubungi saya di {PHONE} segera ya")))
    assert PHONE.encode() in raw_database_bytes(settings)


def test_sqlite_file_lives_where_the_url_says(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite:///{tmp_path}/sub/dir/x.sqlite3")
    app = open_app(settings)
    app.close()
    assert (tmp_path / "sub" / "dir" / "x.sqlite3").exists()


# ---------------------------------------------------------------------- item 17: durable erasure
def stored_keys(lapor: LaporApp) -> dict[str, bytes]:
    """reporter_ref -> the bytes the key table holds for that reporter's key."""
    engine = lapor.vault.keys.engine  # type: ignore[attr-defined]
    with engine.connect() as conn:
        rows = conn.execute(select(reporter_keys.c.reporter_ref, reporter_keys.c.key)).all()
    return {str(ref): bytes(key) for ref, key in rows}


def raw_key_table_bytes(settings: Settings, tmp_path: Path) -> bytes:
    """The key table as it lies on disk, dead rows and free space included: a copy of the
    SQLite files taken while the application keeps running, or every raw PostgreSQL page of
    the table (pageinspect)."""
    if settings.is_sqlite:
        copies = tmp_path / "copy"
        copies.mkdir(exist_ok=True)
        for part in sqlite_files(settings):
            shutil.copyfile(part, copies / part.name)
        return b"".join(p.read_bytes() for p in copies.iterdir())
    with psycopg.connect(settings.database_url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS pageinspect")
        pages = conn.execute(
            "SELECT get_raw_page('lapor_reporter_keys', n) FROM generate_series(0, "
            "pg_relation_size('lapor_reporter_keys') / current_setting('block_size')::int - 1) n"
        ).fetchall()
        return b"".join(bytes(page) for (page,) in pages)


def test_an_erased_key_is_gone_from_the_database_files(
    lapor: LaporApp, settings: Settings, tmp_path: Path
) -> None:
    small_directory(lapor)
    erased = lapor.handle(parse_command(file_cmd()))
    kept = lapor.handle(
        parse_command(file_cmd(reporter={"name": "Budi Santoso", "phone": "081311112222"}))
    )
    keys = stored_keys(lapor)
    assert erased.reporter_ref and kept.reporter_ref
    before = raw_key_table_bytes(settings, tmp_path)
    assert keys[erased.reporter_ref] in before  # the scan sees stored keys

    lapor.handle(
        parse_command(
            {
                "command": "erase_reporter",
                "actor": DESK,
                "reporter_ref": erased.reporter_ref,
                "reason": "UU PDP erasure request",
            }
        )
    )

    after = raw_key_table_bytes(settings, tmp_path)  # the application is still running
    assert keys[kept.reporter_ref] in after  # control: a key that was not erased is found
    assert keys[erased.reporter_ref] not in after


def test_stored_keys_are_wrapped_by_the_out_of_store_pepper(
    lapor: LaporApp, settings: Settings
) -> None:
    """A key row read from a copy of the database (a backup, a dead tuple) is not the key."""
    small_directory(lapor)
    out = lapor.handle(parse_command(file_cmd()))
    complaint = lapor.complaint(str(out.tracking_id))
    key_id = complaint.sealed_identity.split(":")[1]
    key = lapor.vault.keys.key(key_id)
    assert key is not None and len(key) == 32
    assert key not in raw_database_bytes(settings)
    assert out.reporter_ref
    wrapped = stored_keys(lapor)[out.reporter_ref]
    assert unwrap_key(key_encryption_key(b"test-pepper"), key_id, wrapped) == key
    with pytest.raises(InvalidTag):
        unwrap_key(key_encryption_key(b"another pepper"), key_id, wrapped)


# ---------------------------------------------------------------------- item 18: the pepper
def test_the_embedded_default_generates_its_pepper_beside_the_database(tmp_path: Path) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/lapor.sqlite3")
    first = open_app(settings)
    small_directory(first)
    ref = first.handle(parse_command(file_cmd())).reporter_ref
    first.close()

    pepper_file = tmp_path / "lapor.sqlite3.pepper"
    assert stat.S_IMODE(pepper_file.stat().st_mode) == 0o600
    pepper = read_pepper_file(pepper_file)
    assert pepper not in raw_database_bytes(settings)
    assert legacy_rows(settings) == []
    assert ref == reporter_ref_for(ReporterIdentity(name="x", nik=NIK), pepper)
    again = open_app(settings)  # the next run reads the same file: the same reference
    try:
        assert again.vault.reporter_ref(ReporterIdentity(name="y", nik=NIK)) == ref
    finally:
        again.close()


def legacy_rows(settings: Settings) -> list[str]:
    engine = create_engine(sqlalchemy_url(settings.database_url))
    try:
        with engine.connect() as conn:
            return [str(n) for n in conn.execute(select(secrets_table.c.name)).scalars()]
    finally:
        engine.dispose()


def make_previous_release_store(settings: Settings, pepper: bytes) -> tuple[str, str, bytes]:
    """A store as the previous release left it: the pepper in lapor_secrets, keys unwrapped.
    Returns the tracking id, the reporter reference and the reporter's raw key."""
    app = open_app(settings.model_copy(update={"reporter_pepper": SecretStr(pepper.decode())}))
    try:
        small_directory(app)
        out = app.handle(parse_command(file_cmd()))
        assert out.tracking_id and out.reporter_ref
        key_id = app.complaint(out.tracking_id).sealed_identity.split(":")[1]
        key = app.vault.keys.key(key_id)
        assert key is not None
        engine = app.vault.keys.engine  # type: ignore[attr-defined]
        with engine.begin() as conn:
            conn.execute(insert(secrets_table).values(name=PEPPER, value=pepper))
            conn.execute(
                update(reporter_keys).where(reporter_keys.c.key_id == key_id).values(key=key)
            )
    finally:
        app.close()
    return out.tracking_id, out.reporter_ref, key


def test_a_pepper_left_in_the_database_is_moved_out(database_url: str, tmp_path: Path) -> None:
    legacy = b"legacy-pepper-32-bytes-long-1234"
    pepper_file = tmp_path / "secrets" / "pepper"
    settings = Settings(_env_file=None, database_url=database_url, reporter_pepper_file=pepper_file)
    tracking_id, ref, raw_key = make_previous_release_store(settings, legacy)
    assert legacy in raw_database_bytes(settings)  # the state the fix must undo

    app = open_app(settings)
    try:
        assert read_pepper_file(pepper_file) == legacy
        assert stat.S_IMODE(pepper_file.stat().st_mode) == 0o600
        assert legacy_rows(settings) == []
        # Returning reporters keep their reference; identities still open; keys are wrapped.
        assert app.vault.reporter_ref(ReporterIdentity(name="x", nik=NIK)) == ref
        identity = app.identity(app.complaint(tracking_id))
        assert identity is not None and identity.phone == PHONE
        stored = raw_database_bytes(settings)
        assert legacy not in stored
        assert raw_key not in stored
    finally:
        app.close()


def test_postgres_without_a_pepper_is_refused(postgres_server: str) -> None:
    settings = Settings(_env_file=None, database_url=fresh_postgres_database(postgres_server))
    with pytest.raises(PepperError, match="LAPOR_REPORTER_PEPPER_FILE"):
        open_app(settings)


def test_postgres_with_its_pepper_in_the_database_is_refused_until_given_a_file(
    postgres_server: str,
) -> None:
    settings = Settings(_env_file=None, database_url=fresh_postgres_database(postgres_server))
    make_previous_release_store(settings, b"legacy-pepper")
    with pytest.raises(PepperError, match=r"previous release.*LAPOR_REPORTER_PEPPER_FILE"):
        open_app(settings)
    assert legacy_rows(settings) == [PEPPER]  # refused, nothing changed


def test_a_configured_pepper_that_differs_from_the_stored_one_is_refused(
    tmp_path: Path,
) -> None:
    settings = Settings(_env_file=None, database_url=f"sqlite:///{tmp_path}/lapor.sqlite3")
    make_previous_release_store(settings, b"legacy-pepper")
    with pytest.raises(PepperError, match="differs"):
        open_app(settings.model_copy(update={"reporter_pepper": SecretStr("a new pepper")}))
