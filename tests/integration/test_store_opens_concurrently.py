"""Several processes opening the event store at once (the relay, the projector, the door's
workers after a deploy) all open it. Found by the concurrent-filer benchmark: eventsourcing
creates or replaces the store's tables, types and functions whenever an application opens,
and PostgreSQL refused one of eight simultaneous `CREATE OR REPLACE FUNCTION`s with "tuple
concurrently updated", so that worker died at startup. Creation is serialized now."""

from __future__ import annotations

import threading

import pytest

from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from tests.conftest import fresh_postgres_database

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
ROUNDS = 3
OPENERS = 8


def open_at_once(url: str, already_created: bool) -> list[BaseException]:
    """OPENERS threads, each opening an app of its own (its own connection pool, as
    separate processes have) at the same moment; the errors they raised."""
    settings = Settings(database_url=url, reporter_pepper="test-pepper")
    if already_created:
        open_app(settings).close()
    start = threading.Barrier(OPENERS, timeout=60)
    errors: list[BaseException] = []

    def open_one() -> None:
        try:
            start.wait()
            open_app(settings).close()
        except BaseException as exc:  # collected, asserted by the test
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(OPENERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "an opener hung past 120 s"
    return errors


@pytest.mark.parametrize("already_created", [False, True], ids=["fresh", "existing"])
def test_apps_opening_together_all_open_the_store(
    postgres_server: str, already_created: bool
) -> None:
    for _ in range(ROUNDS):
        url = fresh_postgres_database(postgres_server)
        assert open_at_once(url, already_created) == []
