"""The SQL principal and access-code stores on real SQLite and PostgreSQL: the same contract
as the in-memory stores (tests/support/auth_stores.py), a raw scan of every table for
secrets, the migrations, and the wrong-code limit shared by two store instances."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, event, inspect, select, table, text

from lapor_es import bootstrap
from lapor_es.auth import migrations
from lapor_es.auth.access import RateLimit, SqlAccessCodeStore, TooManyAttempts
from lapor_es.auth.principals import PrincipalRole, SqlPrincipalStore
from lapor_es.config import Settings, sqlalchemy_url
from lapor_es.readmodels import migrations as readmodel_migrations
from tests.support.auth_stores import (
    MAX_FAILURES,
    NOW,
    TRACKING,
    UNKNOWN,
    WINDOW,
    AccessCodeStoreContract,
    PrincipalStoreContract,
    Stores,
)

pytestmark = pytest.mark.integration
LIMIT = RateLimit(max_failures=MAX_FAILURES, window=WINDOW)


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(sqlalchemy_url(database_url))
    migrations.prepare(engine)
    yield engine
    engine.dispose()


def table_scan(engine: Engine) -> str:
    """Every row of every table in the database, as text: what a stolen backup shows."""
    dump: list[str] = []
    with engine.connect() as conn:
        for name in inspect(conn).get_table_names():
            dump.extend(
                repr(tuple(row)) for row in conn.execute(select(text("*")).select_from(table(name)))
            )
    return "\n".join(dump)


@pytest.fixture
def stores(engine: Engine) -> Stores:
    return Stores(
        SqlPrincipalStore(engine), SqlAccessCodeStore(engine, LIMIT), raw=lambda: table_scan(engine)
    )


class TestSqlPrincipalStore(PrincipalStoreContract):
    pass


class TestSqlAccessCodeStore(AccessCodeStoreContract):
    pass


def test_the_table_scan_sees_the_auth_tables(stores: Stores, engine: Engine) -> None:
    """Guard for the contract's "not in raw" assertions: the scan does read the rows."""
    principal, _ = stores.principals.add("desk-1", PrincipalRole.NATIONAL_ADMIN, now=NOW)
    stores.codes.issue(TRACKING, NOW)
    raw = stores.raw()
    assert principal.id in raw and TRACKING in raw
    assert {"auth_principals", "auth_access_codes", "auth_access_failures"} <= set(
        inspect(engine).get_table_names()
    )


# ----------------------------------------------------------------------- migrations
def test_the_migrations_make_exactly_the_tables(database_url: str) -> None:
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        assert migrations.is_current(engine) is False
        assert migrations.prepare(engine) is True
        assert migrations.pending_changes(engine) == []
        assert migrations.prepare(engine) is False  # at head: nothing to do
        assert migrations.is_current(engine)
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM lapor_auth_version")).scalar()
        assert version == migrations.script().get_current_head()
    finally:
        engine.dispose()


def test_the_auth_and_read_model_histories_share_a_database(database_url: str) -> None:
    """By default the read models live in the event store's database too: each Alembic
    environment keeps its own version table and leaves the other's tables alone."""
    engine = create_engine(sqlalchemy_url(database_url))
    try:
        readmodel_migrations.migrate(engine)
        assert migrations.prepare(engine) is True
        assert migrations.pending_changes(engine) == []
        assert readmodel_migrations.pending_changes(engine) == []
    finally:
        engine.dispose()


def test_bootstrap_builds_migrated_stores(tmp_path: Path, database_url: str) -> None:
    if database_url.startswith("sqlite"):  # the embedded store's directory need not exist
        database_url = f"sqlite:///{tmp_path}/not/yet/lapor.sqlite3"
    settings = Settings(database_url=database_url, access_code_attempts=2)
    engine = bootstrap.auth_engine(settings)
    try:
        principals = bootstrap.principal_store(settings, engine)
        principal, token = principals.add("desk-1", PrincipalRole.NATIONAL_ADMIN, now=NOW)
        fresh = bootstrap.principal_store(settings)  # its own engine; prepare finds head
        assert isinstance(fresh, SqlPrincipalStore)
        assert fresh.authenticate(token, NOW) == principal
        fresh.engine.dispose()
        codes = bootstrap.access_codes(settings, engine)
        for _ in range(2):
            assert codes.check(TRACKING, "WRONG", NOW, client="c") is False
        with pytest.raises(TooManyAttempts):  # the configured limit: 2
            codes.check(TRACKING, "WRONG", NOW, client="c")
    finally:
        engine.dispose()


# ----------------------------------------------------------------------- no oracle
def statements(engine: Engine, run: Any) -> list[str]:
    """The SQL statements `run()` sends, with their parameters' values left out."""
    sent: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        sent.append(statement)

    event.listen(engine, "before_cursor_execute", record)
    try:
        run()
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return sent


def test_an_unknown_tracking_id_runs_the_same_statements_as_a_wrong_code(
    stores: Stores, engine: Engine
) -> None:
    stores.codes.issue(TRACKING, NOW)
    known = statements(engine, lambda: stores.codes.check(TRACKING, "WRONG", NOW, client="a"))
    unknown = statements(engine, lambda: stores.codes.check(UNKNOWN, "WRONG", NOW, client="b"))
    assert known == unknown
    assert any("INSERT INTO auth_access_failures" in s for s in unknown)


def test_failures_that_left_the_window_are_deleted(stores: Stores, engine: Engine) -> None:
    for attempt in range(MAX_FAILURES):
        stores.codes.check(f"LAP-2026-{attempt:07d}", "WRONG", NOW, client=f"c{attempt}")
    stores.codes.check(TRACKING, "WRONG", NOW + WINDOW, client="late")
    with engine.connect() as conn:
        kept = conn.execute(text("SELECT tracking_id FROM auth_access_failures")).scalars()
        assert list(kept) == [TRACKING]


# ----------------------------------------------------------------------- shared limit
@pytest.fixture
def second_engine(database_url: str) -> Iterator[Engine]:
    """Another connection pool on the same database: what a second server process has."""
    engine = create_engine(sqlalchemy_url(database_url))
    yield engine
    engine.dispose()


def test_two_store_instances_share_the_limit(engine: Engine, second_engine: Engine) -> None:
    first, second = SqlAccessCodeStore(engine, LIMIT), SqlAccessCodeStore(second_engine, LIMIT)
    code = first.issue(TRACKING, NOW)
    assert second.check(TRACKING, code, NOW, client="reporter") is True
    for attempt in range(MAX_FAILURES):
        store = (first, second)[attempt % 2]
        assert store.check(TRACKING, "WRONG", NOW, client=f"guesser-{attempt}") is False
    for store in (first, second):
        with pytest.raises(TooManyAttempts):
            store.check(TRACKING, code, NOW, client="reporter")


def test_concurrent_guesses_from_two_instances_never_exceed_the_limit(
    engine: Engine, second_engine: Engine
) -> None:
    """Many wrong codes at once, half through each of two instances (two connection pools,
    as two server processes have): exactly MAX_FAILURES are checked, every other one is
    refused, because the checks of one tracking id take turns in the database (PostgreSQL:
    advisory locks; SQLite: its write lock)."""
    stores = [SqlAccessCodeStore(engine, LIMIT), SqlAccessCodeStore(second_engine, LIMIT)]
    stores[0].issue(TRACKING, NOW)

    def guess(attempt: int) -> str:
        try:
            stores[attempt % 2].check(TRACKING, f"WRONG{attempt}", NOW, client=f"bot-{attempt}")
        except TooManyAttempts:
            return "refused"
        return "checked"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(guess, range(4 * MAX_FAILURES)))
    assert outcomes.count("checked") == MAX_FAILURES
    assert outcomes.count("refused") == 3 * MAX_FAILURES
