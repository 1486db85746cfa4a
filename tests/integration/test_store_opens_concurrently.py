"""Several processes opening the event store at once (the relay, the projector, the door's
workers after a deploy) all open it. Found by the concurrent-filer benchmark: eventsourcing
creates or replaces the store's tables, types and functions whenever an application opens,
and PostgreSQL refused one of eight simultaneous `CREATE OR REPLACE FUNCTION`s with "tuple
concurrently updated", so that worker died at startup. Creation is serialized now."""

from __future__ import annotations

import pytest

from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from tests.conftest import fresh_postgres_database
from tests.support.concurrently import errors_at_once

pytestmark = [pytest.mark.integration, pytest.mark.postgres]
ROUNDS = 3
OPENERS = 8


def open_at_once(url: str, already_created: bool) -> list[BaseException]:
    """OPENERS threads, each opening an app of its own (its own connection pool, as
    separate processes have) at the same moment; the errors they raised."""
    settings = Settings(database_url=url, reporter_pepper="test-pepper")
    if already_created:
        open_app(settings).close()
    return errors_at_once(lambda: open_app(settings).close(), OPENERS)


@pytest.mark.parametrize("already_created", [False, True], ids=["fresh", "existing"])
def test_apps_opening_together_all_open_the_store(
    postgres_server: str, already_created: bool
) -> None:
    for _ in range(ROUNDS):
        url = fresh_postgres_database(postgres_server)
        assert open_at_once(url, already_created) == []
