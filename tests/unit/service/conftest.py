"""The service layer on eventsourcing's in-memory (POPO) store and in-memory keys: no database."""

from __future__ import annotations

from collections.abc import Iterator
from uuid import UUID

import pytest
from eventsourcing.persistence import ApplicationRecorder, EventStore

from lapor_es.application import LaporApp
from lapor_es.bootstrap import in_memory_app
from lapor_es.config import Settings, in_memory_env
from tests.conftest import NOW
from tests.support.builders import small_directory

SETTINGS = Settings(reporter_pepper="test-pepper")


class Twin(LaporApp):
    """A second application on the first one's in-memory store and keys: another writer."""

    def __init__(self, first: LaporApp) -> None:
        self.first = first
        super().__init__(
            first.settings,
            keys=first.vault.keys,
            env=in_memory_env(first.settings),
            clock=first.now,
            calendar=first.calendar,
        )

    def construct_recorder(self) -> ApplicationRecorder:
        return self.first.recorder

    def construct_snapshot_store(self) -> EventStore[UUID]:
        assert self.first.snapshots is not None
        return self.first.snapshots


@pytest.fixture
def lapor() -> Iterator[LaporApp]:
    """An in-memory LaporApp with the small test directory registered (overrides tests/conftest)."""
    app = in_memory_app(SETTINGS, clock=lambda: NOW)
    small_directory(app)
    yield app
    app.close()
