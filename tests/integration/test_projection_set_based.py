"""The set-based projector (issue 11) against the per-event slow path, on SQLite and
PostgreSQL: the same rows in every read-model table, the same dead letters when one
complaint cannot be applied, and nothing changed by a batch delivered twice."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import Engine, select

from lapor_es.application import LaporApp
from lapor_es.config import Settings
from lapor_es.contract import payloads as p
from lapor_es.kafka.relay import complaint_event_topics
from lapor_es.projections.core import BatchResult, Projector, ReadModel, dead_letters, versions
from lapor_es.projections.events import Coordinates, ProjectedEvent, from_notification
from lapor_es.projections.runners import LocalRunner
from lapor_es.readmodels.migrations import prepare
from lapor_es.simulation import simulate
from lapor_es.simulation.plan import PlanParams
from tests.support.projections import read_model_service, snapshot, with_read_models_at

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

COMPLAINTS = 60  # a simulated store: every lifecycle the simulation makes, SLA ladder included


def _second_database(settings: Settings, name: str) -> str:
    url = settings.database_url
    if url.startswith("sqlite"):
        return url.replace("lapor.sqlite3", f"{name}.sqlite3")
    from tests.conftest import fresh_postgres_database

    return fresh_postgres_database(url)


def _projector(settings: Settings, name: str, *, set_based: bool) -> Projector:
    """A projector of every registered model on a fresh database of its own."""
    service = read_model_service(with_read_models_at(settings, _second_database(settings, name)))
    models = service.models()
    prepare(service.engine, models)
    return Projector(service.engine, models, set_based=set_based)


def _stored(lapor: LaporApp) -> list[ProjectedEvent]:
    notifications = lapor.recorder.select_notifications(
        start=1, limit=1_000_000, topics=complaint_event_topics()
    )
    return [from_notification(n, lapor.mapper) for n in notifications]


def _parked(engine: Engine, models: Sequence[ReadModel]) -> list[tuple[Any, ...]]:
    columns = [dead_letters.c[c] for c in ("projection", "complaint_id", "version", "error")]
    with engine.connect() as conn:
        rows = conn.execute(select(*columns).order_by(dead_letters.c.id)).all()
    return [tuple(r) for r in rows]


def _claims(engine: Engine) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        rows = conn.execute(select(versions).order_by(*versions.primary_key.columns)).all()
    return [tuple(r) for r in rows]


@pytest.fixture
def simulated(lapor: LaporApp) -> list[ProjectedEvent]:
    simulate(lapor, PlanParams(seed=7, complaints=COMPLAINTS, days=30))
    return _stored(lapor)


@pytest.mark.parametrize("batch_size", [1000, 7])
def test_batch_path_writes_the_rows_the_slow_path_writes(
    lapor: LaporApp, settings: Settings, simulated: list[ProjectedEvent], batch_size: int
) -> None:
    """Every table of every read model, and the claims, equal after the whole store; with
    small batches a complaint's events are split over many batches."""
    fast = _projector(settings, "fast", set_based=True)
    slow = _projector(settings, "slow", set_based=False)
    for projector in (fast, slow):
        stats = LocalRunner(lapor.recorder, lapor.mapper, projector, batch_size=batch_size).run()
        assert stats.events == len(simulated) and stats.parked == 0
    tables = snapshot(fast.engine, fast.models)
    assert tables == snapshot(slow.engine, slow.models)
    assert all(tables[name] for name in ("complaint_forwardings", "sla_deadlines", "agency_inbox"))
    assert _claims(fast.engine) == _claims(slow.engine)


def _poisoned(events: list[ProjectedEvent]) -> tuple[list[ProjectedEvent], str, int]:
    """`events` with one complaint's first unit forwarding made impossible (it names a
    forwarder who does not hold the complaint): the complaint, inbox and deadlines models
    cannot apply it. Returns the events, that complaint and the version."""
    for i, ev in enumerate(events):
        payload = ev.payload
        if isinstance(payload, p.Forwarded) and payload.from_agency is not None:
            bad = payload.model_copy(update={"from_agency": "NOWHERE"})
            out = list(events)
            out[i] = ProjectedEvent(bad, ev.raw, ev.coordinates, ev.position)
            return out, ev.complaint_id, ev.version
    raise AssertionError("the simulated store has no unit forwarding")


def test_a_complaint_that_cannot_be_folded_parks_alone_as_in_the_slow_path(
    settings: Settings, simulated: list[ProjectedEvent]
) -> None:
    events, complaint_id, version = _poisoned(simulated)
    fast = _projector(settings, "fast", set_based=True)
    slow = _projector(settings, "slow", set_based=False)
    fast_result = fast.process(events)  # one batch: every complaint beside the poisoned one
    slow_result = slow.process(events)
    parked = _parked(fast.engine, fast.models)
    assert parked == _parked(slow.engine, slow.models)
    assert {(name, cid) for name, cid, _, _ in parked} == {
        (name, complaint_id) for name in ("complaints", "inbox", "deadlines")
    }
    behind = sum(1 for ev in events if ev.complaint_id == complaint_id and ev.version > version)
    assert fast_result.parked == 3 * (1 + behind) == slow_result.parked
    first = [r for r in parked if r[2] == version]
    assert all("NOWHERE" in error for *_, error in first)
    assert fast_result.applied == slow_result.applied == 4 * len(events) - fast_result.parked
    assert snapshot(fast.engine, fast.models) == snapshot(slow.engine, slow.models)
    assert _claims(fast.engine) == _claims(slow.engine)


def _redelivered(events: list[ProjectedEvent]) -> list[ProjectedEvent]:
    """The same events from somewhere the tracking has not seen (a replayed topic, say):
    only the claims can tell they are duplicates."""
    return [
        ProjectedEvent(ev.payload, ev.raw, Coordinates("again", 0, i), ev.position)
        for i, ev in enumerate(events)
    ]


def test_a_batch_delivered_twice_changes_nothing(
    settings: Settings, simulated: list[ProjectedEvent]
) -> None:
    projector = _projector(settings, "fast", set_based=True)
    first = projector.process(simulated)
    assert first.applied == 4 * len(simulated) and first.parked == 0
    tables, claims = snapshot(projector.engine, projector.models), _claims(projector.engine)
    same = projector.process(simulated)  # same coordinates: behind the tracking
    assert same == BatchResult(skipped=4 * len(simulated))
    again = projector.process(_redelivered(simulated))
    assert again.applied == 0 and again.parked == 0
    assert again.duplicates == 4 * len(simulated)
    assert snapshot(projector.engine, projector.models) == tables
    assert _claims(projector.engine) == claims
    assert _parked(projector.engine, projector.models) == []


class _StaleVersions(Projector):
    """A projector that read the versions before another projector committed its claims
    (a rebalance): the first batch reads no versions at all."""

    stale = True

    def _versions(self, conn: Any, name: str, complaint_ids: set[str]) -> dict[str, int]:
        if self.stale:
            return {}
        return super()._versions(conn, name, complaint_ids)


class _StaleOnce(_StaleVersions):
    """Stale on the first read only (the other projector's claims were committed in
    between); the slow path is not expected, so it fails the test if taken."""

    def _versions(self, conn: Any, name: str, complaint_ids: set[str]) -> dict[str, int]:
        versions = super()._versions(conn, name, complaint_ids)
        self.stale = False
        return versions

    def _process_model(self, *args: Any, **kwargs: Any) -> None:
        raise AssertionError("the slow path was taken")


@pytest.mark.parametrize(
    "racing_projector",
    [_StaleVersions, _StaleOnce],
    ids=["stale-on-every-try-slow-path", "stale-once-stays-set-based"],
)
def test_a_claim_taken_by_another_projector_applies_nothing_twice(
    settings: Settings, simulated: list[ProjectedEvent], racing_projector: type[Projector]
) -> None:
    """The claims another projector took first read as duplicates: on the next set-based
    try when the race was one-off (the slow path is many times slower; `_StaleOnce` fails
    if it is taken), on the per-event slow path when it goes on."""
    half = len(simulated) // 2
    fast = _projector(settings, "fast", set_based=True)
    fast.process(simulated[:half])
    racing = racing_projector(fast.engine, fast.models)
    result = racing.process(_redelivered(simulated))
    assert result.duplicates == 4 * half
    assert result.applied == 4 * (len(simulated) - half) and result.parked == 0
    slow = _projector(settings, "slow", set_based=False)
    slow.process(simulated)
    assert snapshot(fast.engine, fast.models) == snapshot(slow.engine, slow.models)
