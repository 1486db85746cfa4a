"""The notifier's outbox (`notifications`) under the read models' Alembic history
(revision 0004), on SQLite and PostgreSQL: a database where the notifier made the table
itself (create_all, before 0004) is upgraded keeping its rows; one without it gets it; in
both, the models and the migrations agree."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from alembic import command
from sqlalchemy import Engine, func, insert, inspect, select

from lapor_es.config import Settings
from lapor_es.notify.outbox import TABLE, NotificationModel
from lapor_es.readmodels import migrations
from tests.support.projections import read_model_service

pytestmark = pytest.mark.integration
AT = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)


def at_revision_before_outbox(engine: Engine) -> None:
    with engine.begin() as conn:
        command.upgrade(migrations.config(conn), migrations.BEFORE_OUTBOX)


def test_an_outbox_made_by_the_notifier_is_kept_and_stamped(settings: Settings) -> None:
    engine = read_model_service(settings).engine
    at_revision_before_outbox(engine)
    model = NotificationModel(["email"], clock=lambda: AT)
    model.metadata.create_all(engine)  # as the notifier made it before revision 0004
    row = {
        "complaint_id": "c5617569-08ed-5257-903b-c464c864ff57",
        "version": 3,
        "channel": "email",
        "tracking_id": "LAP-2026-0000001",
        "event_type": "Forwarded",
        "event_at": AT,
        "payload": json.dumps({"type": "Forwarded"}),
        "status": "pending",
        "attempts": 0,
        "next_attempt_at": AT,
        "created_at": AT,
        "updated_at": AT,
    }
    with engine.begin() as conn:
        conn.execute(insert(model.table(TABLE)).values(**row))

    assert migrations.migrate(engine) is True
    assert migrations.is_current(engine)
    assert migrations.pending_changes(engine) == []
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(model.table(TABLE))).scalar() == 1


def test_a_database_without_the_outbox_gets_it(settings: Settings) -> None:
    engine = read_model_service(settings).engine
    at_revision_before_outbox(engine)
    assert TABLE not in inspect(engine).get_table_names()
    assert migrations.migrate(engine) is True
    assert TABLE in inspect(engine).get_table_names()
    assert migrations.pending_changes(engine) == []
