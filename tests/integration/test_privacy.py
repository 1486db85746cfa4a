"""Reporter identity never reaches the database in plaintext, on either store."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.commands import parse_command
from lapor_es.config import Settings, sqlite_path
from tests.support.builders import DESK, NIK, PHONE, file_cmd, small_directory

pytestmark = pytest.mark.integration
EMAIL = "dewi.lestari@example.id"
NAME = "Dewi Lestari"
SECRETS = [PHONE.encode(), NIK.encode(), EMAIL.encode(), NAME.encode()]


def raw_database_bytes(settings: Settings) -> bytes:
    """Every byte the database holds: the SQLite files, or every row of every PG table."""
    if settings.is_sqlite:
        path = sqlite_path(settings.database_url)
        return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
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
