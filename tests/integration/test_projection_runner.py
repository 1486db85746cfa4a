"""Read models fed in-process from the store, on SQLite and PostgreSQL: migrations, catch-up,
rebuild and swap, dead letters and retry."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Connection, func, inspect, select, text

from lapor_es.application import LaporApp
from lapor_es.config import Settings
from lapor_es.projections.core import Projector, dead_letters, tracking, versions
from lapor_es.projections.rebuild import Advance, RebuildResult, StoreFeed
from lapor_es.readmodels import migrations
from lapor_es.readmodels.registry import MODEL_NAMES
from tests.conftest import NOW
from tests.support.builders import DESK, Driver, agency_actor, file_cmd, small_directory, traffic
from tests.support.kafka import stored_events
from tests.support.projections import (
    POISON,
    EventCounts,
    live_snapshot,
    read_model_service,
    snapshot,
)

pytestmark = [pytest.mark.integration]


def test_migrations_create_exactly_the_models_tables(settings: Settings) -> None:
    engine = read_model_service(settings).engine
    assert migrations.migrate(engine) is True
    assert migrations.pending_changes(engine) == []
    assert migrations.migrate(engine) is False  # at head: nothing to do
    assert migrations.is_current(engine)
    tables = set(inspect(engine).get_table_names())
    assert set(migrations.target_metadata().tables) <= tables
    # A model change without a migration shows up as a difference (what CI checks).
    with engine.begin() as conn:
        conn.execute(text("DROP INDEX ix_projection_dead_letters_projection"))
    assert migrations.pending_changes(engine) != []


def test_a_database_made_by_create_all_is_adopted(settings: Settings) -> None:
    from lapor_es.projections.core import create_all

    read_models = read_model_service(settings)
    engine = read_models.engine
    create_all(engine, read_models.models())
    # Stamped, not created twice; then the notifier's outbox (0004), which create_all of the
    # read models never made, is added.
    assert migrations.migrate(engine) is True
    assert migrations.is_current(engine)
    assert migrations.pending_changes(engine) == []


def test_catch_up_applies_every_event_once(lapor: LaporApp, settings: Settings) -> None:
    small_directory(lapor)
    traffic(lapor, 24, NOW - timedelta(days=20))
    stored = stored_events(lapor)
    service = read_model_service(settings)
    stats = service.catch_up(lapor.recorder, lapor.mapper)
    assert stats.events == len(stored) and stats.applied == len(stored) * len(MODEL_NAMES)
    assert stats.parked == 0
    first = live_snapshot(settings.read_model_url, settings)
    assert all(first[name] for name in ("complaint_facts", "complaint_timeline"))
    again = service.catch_up(lapor.recorder, lapor.mapper)
    assert again.events == 0  # resumes after its tracking
    traffic(lapor, 4, NOW - timedelta(days=2), seed="later")
    later = service.catch_up(lapor.recorder, lapor.mapper)
    assert later.events == len(stored_events(lapor)) - len(stored)
    with service.engine.connect() as conn:
        claimed = conn.execute(
            select(func.sum(versions.c.version)).where(versions.c.projection == "complaints")
        ).scalar()
    assert claimed == len(stored_events(lapor))
    assert migrations.pending_changes(service.engine) == []


class LateWrites(StoreFeed):
    """After the rebuild's main pass, the store gets new events and the live projection
    applies them, before the swap: the swap's own pass must pick them up."""

    def __init__(self, lapor: LaporApp, settings: Settings) -> None:
        super().__init__(lapor.recorder, lapor.mapper, batch_size=20)
        self.lapor = lapor
        self.settings = settings

    def run(
        self,
        projector: Projector,
        result: RebuildResult,
        *,
        conn: Connection | None = None,
        advance: Advance | None = None,
    ) -> int:
        count = super().run(projector, result, conn=conn, advance=advance)
        if conn is None:
            traffic(self.lapor, 3, NOW - timedelta(days=3), seed="during")
            read_model_service(self.settings).catch_up(self.lapor.recorder, self.lapor.mapper)
        return count


def test_rebuild_equals_live_and_live_serves_during_it(lapor: LaporApp, settings: Settings) -> None:
    small_directory(lapor)
    traffic(lapor, 30, NOW - timedelta(days=20))
    service = read_model_service(settings)
    service.catch_up(lapor.recorder, lapor.mapper)
    complaints = len(live_snapshot(settings.read_model_url, settings)["complaint_facts"])
    engine = service.engine
    answered: list[int] = []

    def query_live(count: int, done: int, total: int) -> None:
        # Mid-rebuild, from another connection: the live tables and views still answer.
        assert 0 < done <= total
        with engine.connect() as conn:
            answered.append(conn.execute(text("SELECT COUNT(*) FROM v_complaints")).scalar_one())

    result = service.rebuild("complaints", LateWrites(lapor, settings), advance=query_live)
    assert len(answered) > 1 and set(answered) == {complaints}
    assert result.final_events > 0  # written after the main pass, read in the swap
    after = live_snapshot(settings.read_model_url, settings)
    assert len(after["complaint_facts"]) == complaints + 3
    with engine.connect() as conn:
        names = set(conn.execute(select(tracking.c.projection).distinct()).scalars())
        rb_tables = [t for t in inspect(conn).get_table_names() if t.startswith("rb_")]
        views = conn.execute(text("SELECT COUNT(*) FROM v_complaints")).scalar_one()
    assert "complaints@rb" not in names and rb_tables == [] and views == complaints + 3
    assert migrations.pending_changes(engine) == []  # indexes/constraints renamed too
    # The rebuilt tables equal a full in-process projection into a fresh database.
    other = settings.model_copy(update={"projection_database_url": _sibling_database(settings)})
    elsewhere = read_model_service(other)
    elsewhere.catch_up(lapor.recorder, lapor.mapper)
    assert after == live_snapshot(other.read_model_url, other)
    # And the rebuilt model goes on from the moved tracking: new events once each.
    traffic(lapor, 2, NOW - timedelta(days=1), seed="after")
    assert service.catch_up(lapor.recorder, lapor.mapper).applied == service_events(lapor, 2)
    assert elsewhere.catch_up(lapor.recorder, lapor.mapper).applied == service_events(lapor, 2)
    assert live_snapshot(settings.read_model_url, settings) == live_snapshot(
        other.read_model_url, other
    )


def service_events(lapor: LaporApp, complaints: int) -> int:
    """Events the last `complaints` complaints of traffic() wrote, times the models."""
    stored = stored_events(lapor)
    ids = list(dict.fromkeys(cid for _, cid, _ in stored))[-complaints:]
    return sum(1 for _, cid, _ in stored if cid in ids) * len(MODEL_NAMES)


def _sibling_database(settings: Settings) -> str:
    url = settings.database_url
    if url.startswith("sqlite"):
        return url.replace("lapor.sqlite3", "other.sqlite3")
    from tests.conftest import fresh_postgres_database

    return fresh_postgres_database(url)


def test_a_poison_event_parks_its_complaint_and_retry_applies_in_order(
    lapor: LaporApp, settings: Settings
) -> None:
    small_directory(lapor)
    traffic(lapor, 6, NOW - timedelta(days=20), seed="before")
    run = Driver(lapor, NOW - timedelta(days=10))
    tid = str(run(**file_cmd(title="Lampu jalan mati")).tracking_id)
    common = {"complaint": tid, "category": "Listrik", "kind": "complaint"}
    run(
        command="verify",
        actor=DESK,
        title=POISON,
        visibility="public",
        to_agency="KEMENKES",
        **common,
    )
    run(
        command="respond",
        actor=agency_actor("KEMENKES"),
        complaint=tid,
        kind="final",
        text="Oke, sudah kami tangani",
    )
    traffic(lapor, 6, NOW - timedelta(days=5), seed="after")
    poisoned_id = lapor.complaint(tid).id
    model = EventCounts()

    service = read_model_service(settings)
    stats = service.catch_up(lapor.recorder, lapor.mapper, models=[model])
    # Verified (raised), then Forwarded and Responded (parked behind it)
    assert stats.parked == 3
    parked = service.open_dead_letters("event_counts")
    assert [(r["complaint_id"], r["version"]) for r in parked] == [
        (str(poisoned_id), 2),
        (str(poisoned_id), 3),
        (str(poisoned_id), 4),
    ]
    assert "ValueError: poisoned title" in parked[0]["error"]
    assert "parked behind it" in parked[1]["error"]
    engine = service.engine
    counts = snapshot(engine, [model])
    # Only v1 of the poisoned complaint applied; every other complaint complete.
    assert (str(poisoned_id), 1) in counts["event_versions"]
    others = {cid: v for cid, v in counts["event_versions"] if cid != str(poisoned_id)}
    stored = stored_events(lapor)
    expected = {cid: v for _, cid, v in stored if cid != str(poisoned_id)}
    assert others == expected

    # Still poisoned: retry parks them again, nothing applied, still open.
    again = service.retry_dead_letters(models=[model])
    assert again.applied == 0 and len(service.open_dead_letters("event_counts")) == 3

    model.poisoned = False  # the fix is deployed
    fixed = service.retry_dead_letters(models=[model])
    assert fixed.applied == 3
    assert service.open_dead_letters("event_counts") == []
    counts = snapshot(engine, [model])
    assert (str(poisoned_id), 4) in counts["event_versions"]  # in order, or it raised
    with engine.connect() as conn:
        history = conn.execute(
            select(dead_letters.c.version, dead_letters.c.resolved_at.is_not(None))
            .where(dead_letters.c.complaint_id == str(poisoned_id))
            .order_by(dead_letters.c.id)
        ).all()
    assert all(resolved for _, resolved in history)
    # Later events of that complaint flow normally again.
    run(
        command="reply",
        actor={"id": lapor.complaint(tid).reporter_ref, "role": "reporter"},
        complaint=tid,
        kind="confirm",
        text="Terima kasih",
    )
    late = service.catch_up(lapor.recorder, lapor.mapper, models=[model])
    assert late.applied == 2 and late.parked == 0  # ReporterReplied, Resolved
