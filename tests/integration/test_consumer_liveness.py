"""The consumer loop's liveness rule and deadline, against real brokers.

A projector keeps going through a broker restart (its group coordinator gone for a while):
the loop replaces its consumer, says so in the log and in `restarts`, and every event is
still applied exactly once. A run that is not following ends with a clear error when it
cannot get going, instead of hanging, after the configured deadline.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from lapor_es.application import LaporApp
from lapor_es.bootstrap import open_app
from lapor_es.config import Settings
from lapor_es.kafka.loop import ConsumerDeadlineError, Liveness
from lapor_es.kafka.relay import Relay
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.projections.core import Projector, versions
from lapor_es.projections.runners import KafkaRunner, RunStats
from tests.conftest import NOW
from tests.support.builders import small_directory, traffic
from tests.support.kafka import own_broker, stored_events
from tests.support.projections import read_model_service

pytestmark = [pytest.mark.integration, pytest.mark.kafka]

QUICK = Liveness(assignment_timeout_s=3, stall_timeout_s=3, deadline_s=None)


def wait_for(what: str, done: Callable[[], bool], timeout_s: float = 180) -> None:
    deadline = time.monotonic() + timeout_s
    while not done():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.2)


def last_versions(app: LaporApp) -> dict[str, int]:
    out: dict[str, int] = {}
    for _, cid, version in stored_events(app):
        out[cid] = max(out.get(cid, 0), version)
    return out


def applied_versions(projector: Projector) -> dict[str, int]:
    """The highest version each complaint has been applied at, by any model."""
    out: dict[str, int] = {}
    with projector.engine.connect() as conn:
        for cid, version in conn.execute(select(versions.c.complaint_id, versions.c.version)):
            out[cid] = max(out.get(cid, 0), version)
    return out


def test_a_projector_recovers_when_its_broker_restarts(tmp_path: Path) -> None:
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/store.sqlite3",
        projection_database_url=f"sqlite:///{tmp_path}/read.sqlite3",
        reporter_pepper="p",
    )
    app = open_app(settings, clock=lambda: NOW)
    with own_broker(tmp_path / "kafka") as broker:
        kafka = KafkaSettings(bootstrap=broker.bootstrap, topic="restart.v1", partitions=3)
        small_directory(app)
        traffic(app, 6, NOW - timedelta(days=9), seed="before")
        Relay(app.recorder, app.mapper, kafka).run(follow=False)
        read_models = read_model_service(settings)
        models = read_models.models()
        projector = read_models.open_projector(models)
        runner = KafkaRunner(kafka, "restart-projector", projector, liveness=QUICK)
        outcome: list[RunStats | BaseException] = []

        def run() -> None:
            try:
                outcome.append(runner.run(follow=True))
            except BaseException as exc:
                outcome.append(exc)

        with capture_logs() as logs:
            thread = threading.Thread(target=run, daemon=True)
            thread.start()
            try:
                wait_for(
                    "the first events", lambda: applied_versions(projector) == last_versions(app)
                )
                broker.launcher("stop", keep_data=True)  # the coordinator is gone...
                wait_for("a consumer restart", lambda: runner.stats.restarts > 0)
                broker.launcher("start", keep_data=True)  # ...and back, same data
                traffic(app, 4, NOW - timedelta(days=2), seed="after")
                Relay(app.recorder, app.mapper, kafka).run(follow=False)
                wait_for(
                    "every event after the restart",
                    lambda: applied_versions(projector) == last_versions(app),
                )
            finally:
                runner.stop.set()
                thread.join(timeout=60)
        assert outcome and isinstance(outcome[0], RunStats), outcome
        stats = outcome[0]
        # Each event applied exactly once by each model, redeliveries after the restart
        # (if any) recognised as duplicates by the version claims.
        assert stats.applied == len(stored_events(app)) * len(models)
        assert stats.restarts > 0
        restarts = [e for e in logs if e["event"] == "kafka.consumer_restarted"]
        assert restarts and all(e["waited_for"] for e in restarts)
        assert restarts[0]["reader"] == "projector group restart-projector on restart.v1"
    app.close()


def test_a_run_that_cannot_get_an_assignment_ends_at_its_deadline(
    tmp_path: Path, kafka_bootstrap: str
) -> None:
    """A group subscribed to a topic that does not exist never gets a partition. The limits
    are the operator's settings (LAPOR_KAFKA_*_TIMEOUT_S, LAPOR_KAFKA_CATCH_UP_DEADLINE_S),
    which reach the projector's consumer loop."""
    topic = f"missing.{uuid.uuid4().hex[:8]}"
    settings = Settings(
        database_url=f"sqlite:///{tmp_path}/read.sqlite3",
        reporter_pepper="p",
        kafka_bootstrap=kafka_bootstrap,
        kafka_topic=topic,
        kafka_assignment_timeout_s=2,
        kafka_stall_timeout_s=2,
        kafka_catch_up_deadline_s=8,
    )
    expected = "not caught up after 8 s; it was waiting for a partition assignment"
    with capture_logs() as logs, pytest.raises(ConsumerDeadlineError, match=expected):
        read_model_service(settings).run_projector(
            f"{topic}.projector", follow=False, names=("complaints",), idle_timeout=0.5
        )
    restarts = [e for e in logs if e["event"] == "kafka.consumer_restarted"]
    assert restarts  # it tried a fresh consumer (after 2 s unassigned) before giving up
