"""Wake on commit (issue 11): on PostgreSQL the following relay and in-process runner are
woken by the commit's NOTIFY, not by their poll. The runners here are given a poll of an
hour, so only the commit signal can make them see a filing before the deadline."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest

from lapor_es.application import LaporApp
from lapor_es.commands import parse_command
from lapor_es.config import Settings
from lapor_es.kafka.relay import Relay, committed_position, complaint_event_topics
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.projections.events import STORE_SOURCE
from lapor_es.projections.runners import LocalRunner
from lapor_es.wake import ListenWaker, waker_for
from tests.support.builders import file_cmd, small_directory
from tests.support.projections import read_model_service

pytestmark = [pytest.mark.integration]

HOUR = 3600.0


# SQLite has no commit signal (the runners poll there, as the first test shows): the tests of the
# signal itself run on PostgreSQL only, rather than skipping on SQLite.
postgres_only = pytest.mark.parametrize("database_url", ["postgres"], indirect=True)


def file_one(lapor: LaporApp, phone: str) -> None:
    lapor.handle(parse_command(file_cmd(reporter={"name": "Dewi", "phone": phone})))


def head(lapor: LaporApp) -> int:
    """The position of the last complaint event (what the relay and the runner read)."""
    stored = lapor.recorder.select_notifications(
        start=0, limit=10_000, topics=complaint_event_topics()
    )
    return stored[-1].id if stored else 0


def wait_until(what: str, condition: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@contextmanager
def running(target: Callable[[], object], stop: threading.Event) -> Iterator[None]:
    errors: list[BaseException] = []

    def body() -> None:
        try:
            target()
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=body, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(timeout=60)
        assert not thread.is_alive(), "the runner did not stop within 60 s of stop being set"
        assert not errors, errors


def test_the_store_chooses_the_waker(lapor: LaporApp, settings: Settings) -> None:
    waker = waker_for(lapor.recorder)
    try:
        postgres = settings.database_url.startswith("postgresql")
        assert waker.mode == ("listen" if postgres else "poll")
    finally:
        waker.close()


@postgres_only
def test_a_commit_signals_the_listener(lapor: LaporApp, settings: Settings) -> None:
    small_directory(lapor)
    waker = waker_for(lapor.recorder)
    assert isinstance(waker, ListenWaker)
    stop = threading.Event()
    try:
        assert waker.ready(timeout=30), "LISTEN was not in place within 30 s"
        assert waker.wait(1.0, stop)  # the signal set on LISTEN: look once
        file_one(lapor, "081200000001")
        assert waker.wait(60.0, stop), "no NOTIFY within 60 s of a committed filing"
    finally:
        waker.close()


@postgres_only
def test_the_following_runner_wakes_on_commit(lapor: LaporApp, settings: Settings) -> None:
    small_directory(lapor)
    service = read_model_service(settings)
    projector = service.open_projector(service.models(("complaints",)))
    runner = LocalRunner(
        lapor.recorder, lapor.mapper, projector, poll_interval=HOUR, listen_fallback=HOUR
    )
    with running(lambda: runner.run(follow=True), runner.stop):
        for n in range(3):
            file_one(lapor, f"08120000001{n}")
            target = head(lapor)

            def applied(target: int = target) -> bool:
                return (projector.resume_offset(STORE_SOURCE, 0) or 0) >= target

            wait_until(f"the runner to apply position {target}", applied)
    assert runner.stats.events >= 3


@postgres_only
def test_the_following_relay_wakes_on_commit(
    lapor: LaporApp, settings: Settings, kafka: KafkaSettings
) -> None:
    small_directory(lapor)
    relay = Relay(lapor.recorder, lapor.mapper, kafka, poll_interval=HOUR, listen_fallback=HOUR)
    with running(lambda: relay.run(follow=True), relay.stop):
        for n in range(3):
            file_one(lapor, f"08120000002{n}")
            target = head(lapor)

            def published(target: int = target) -> bool:
                return relay.stats.position >= target

            wait_until(f"the relay to publish position {target}", published)
    assert committed_position(kafka) == head(lapor)
