"""The door on the in-memory LaporApp and in-memory auth stores, driven by FastAPI's
TestClient. The read models live in a SQLite file of the test's own; `Fixture.project()`
catches them up with the in-memory event store when a test reads them."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from lapor_es.aggregates.values import Channel
from lapor_es.api.app import create_app
from lapor_es.api.door import DirectoryScope, Door
from lapor_es.application import LaporApp
from lapor_es.auth.access import InMemoryAccessCodeStore
from lapor_es.auth.principals import InMemoryPrincipalStore, PrincipalRole
from lapor_es.bootstrap import in_memory_app, projection_engine_at
from lapor_es.config import Settings
from lapor_es.projections.core import Projector, ReadModel
from lapor_es.projections.runners import LocalRunner
from lapor_es.readmodels.complaints import ComplaintsModel
from lapor_es.readmodels.deadlines import DeadlinesModel
from lapor_es.readmodels.inbox import InboxModel
from lapor_es.readmodels.migrations import prepare
from lapor_es.readmodels.timeline import TimelineModel
from tests.support.builders import small_directory


@dataclass
class Fixture:
    """The door under test, its client, and a token per role."""

    door: Door
    client: TestClient
    tokens: dict[str, str] = field(default_factory=dict)

    def headers(self, who: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"}

    def add(self, who: str, role: PrincipalRole, **kwargs: Any) -> str:
        _, token = self.door.principals.add(who, role, now=self.door.clock(), **kwargs)
        self.tokens[who] = token
        return token

    def post(self, who: str, body: Any) -> Any:
        return self.client.post("/v1/commands", json=body, headers=self.headers(who))

    def project(self) -> None:
        """Apply every stored event to the read models (what `lapor-es project` does)."""
        lapor, settings = self.door.lapor, self.door.settings
        projector = Projector(self.door.read_models, live_models(settings))
        LocalRunner(lapor.recorder, lapor.mapper, projector).run(follow=False)


def door_settings(tmp_path: Path, **overrides: Any) -> Settings:
    url = f"sqlite:///{tmp_path / 'read.sqlite3'}"
    return Settings(
        _env_file=None,
        reporter_pepper="test-pepper",
        projection_database_url=url,
        **overrides,
    )


def live_models(settings: Settings) -> list[ReadModel]:
    """The four read models the door reads, on the live tables."""
    calendar = settings.calendar
    return [
        ComplaintsModel(calendar=calendar),
        InboxModel(calendar=calendar),
        TimelineModel(calendar=calendar),
        DeadlinesModel(calendar=calendar, policy=settings.sla_policy),
    ]


def build_door(settings: Settings) -> Door:
    lapor: LaporApp = in_memory_app(settings)
    small_directory(lapor)
    engine: Engine = projection_engine_at(settings.read_model_url)
    prepare(engine, live_models(settings))
    return Door(
        settings=settings,
        lapor=lapor,
        principals=InMemoryPrincipalStore(),
        access_codes=InMemoryAccessCodeStore(),
        read_models=engine,
        scope=DirectoryScope(lapor),
    )


def with_roles(fx: Fixture) -> Fixture:
    fx.add("desk", PrincipalRole.NATIONAL_ADMIN)
    fx.add("kemenkes", PrincipalRole.AGENCY_ADMIN, agency="KEMENKES")
    fx.add("itjen", PrincipalRole.AGENCY_ADMIN, agency="KEMENKES.ITJEN")
    fx.add("kemensos", PrincipalRole.AGENCY_ADMIN, agency="KEMENSOS")
    fx.add("portal", PrincipalRole.CHANNEL, channel=Channel.WEB)
    fx.add("sms", PrincipalRole.CHANNEL, channel=Channel.SMS_1708)
    fx.add("auditor", PrincipalRole.AUDITOR)
    fx.add("analyst", PrincipalRole.ANALYST)
    fx.add("timer", PrincipalRole.SYSTEM)
    return fx


@pytest.fixture
def fx(tmp_path: Path) -> Iterator[Fixture]:
    door = build_door(door_settings(tmp_path))
    with TestClient(create_app(door)) as client:
        yield with_roles(Fixture(door, client))
