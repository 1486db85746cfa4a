"""The door on the in-memory LaporApp and in-memory auth stores, driven by FastAPI's
TestClient. The read models live in a SQLite file of the test's own; `Door.project()`
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
from lapor_es.readmodels.migrations import prepare
from lapor_es.readmodels.registry import read_models
from lapor_es.readmodels.service import catch_up
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
        lapor = self.door.lapor
        catch_up(lapor.recorder, lapor.mapper, self.door.settings)


def door_settings(tmp_path: Path, **overrides: Any) -> Settings:
    url = f"sqlite:///{tmp_path / 'read.sqlite3'}"
    return Settings(
        _env_file=None,
        reporter_pepper="test-pepper",
        projection_database_url=url,
        **overrides,
    )


def build_door(settings: Settings) -> Door:
    lapor: LaporApp = in_memory_app(settings)
    small_directory(lapor)
    engine: Engine = projection_engine_at(settings.read_model_url)
    prepare(engine, read_models(settings.calendar))
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
