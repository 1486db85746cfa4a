"""Complaint ids are derived per deployment (issue 10 item 9d): two stores made fresh give
the same tracking id different UUIDs, one store keeps its UUIDs across restarts, and a store
made before stores had a namespace of their own keeps the ids it already holds. Both stores."""

from __future__ import annotations

import json
from pathlib import Path
from uuid import UUID

import pytest

from lapor_es.aggregates import Complaint
from lapor_es.aggregates.deployment import SHARED_COMPLAINT_NAMESPACE
from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.commands import parse_command
from lapor_es.config import Settings
from tests.conftest import NOW, fresh_postgres_database
from tests.support.builders import file_cmd, filed_complaint

pytestmark = pytest.mark.integration

FIRST = "LAP-2026-0000001"


@pytest.fixture
def other_settings(settings: Settings, request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """A second empty store of the same kind: another deployment."""
    if settings.database_url.startswith("sqlite"):
        url = f"sqlite:///{tmp_path}/other.sqlite3"
    else:
        url = fresh_postgres_database(request.getfixturevalue("postgres_server"))
    return settings.model_copy(update={"database_url": url})


def _file_first(lapor: LaporApp) -> UUID:
    outcome = lapor.handle(parse_command(json.dumps(file_cmd(at="2026-02-23T02:00:00Z"))))
    assert outcome.tracking_id == FIRST
    return UUID(str(outcome.complaint_id))


def test_two_fresh_stores_give_one_tracking_id_two_uuids(
    settings: Settings, other_settings: Settings
) -> None:
    ids = []
    for store in (settings, other_settings):
        lapor = open_app(store, clock=lambda: NOW)
        try:
            ids.append(_file_first(lapor))
            assert lapor.complaint(FIRST).id == ids[-1]  # a tracking id is a direct lookup
        finally:
            lapor.close()
    assert ids[0] != ids[1]


def test_a_store_keeps_its_uuids_when_reopened(settings: Settings) -> None:
    lapor = open_app(settings, clock=lambda: NOW)
    try:
        filed = _file_first(lapor)
        namespace = lapor.complaint_namespace
    finally:
        lapor.close()
    again = open_app(settings, clock=lambda: NOW)
    try:
        assert again.complaint_namespace == namespace
        assert again.complaint_id_for(FIRST) == filed
        assert again.complaint(FIRST).id == filed
    finally:
        again.close()


def test_a_store_made_before_keeps_the_shared_namespace_its_complaints_have(
    settings: Settings,
) -> None:
    lapor = open_app(settings, clock=lambda: NOW)
    try:
        # What an older lapor-es stored: a complaint derived in the one shared namespace, and
        # no record of a namespace of the store's own.
        old = filed_complaint(1, namespace=SHARED_COMPLAINT_NAMESPACE)
        lapor.save(old)
    finally:
        lapor.close()
    reopened = open_app(settings, clock=lambda: NOW)
    try:
        assert reopened.complaint_namespace == SHARED_COMPLAINT_NAMESPACE
        found = reopened.complaint(FIRST)
        assert isinstance(found, Complaint) and found.id == old.id
    finally:
        reopened.close()
