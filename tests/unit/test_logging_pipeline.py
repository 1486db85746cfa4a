"""One logging pipeline: the standard library's records (kafka-python, Alembic, ...) come out
like ours, as JSON with their logger name and the bound context; a worker that cannot start
says so in one line and exits non-zero."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from kafka.errors import KafkaTimeoutError
from structlog.testing import capture_logs

from lapor_es.logging import StartupError, configure_logging, startup_probe
from tests.support.kafka import free_port


@pytest.fixture(autouse=True)
def _unbound() -> Iterator[None]:
    structlog.contextvars.clear_contextvars()
    yield
    structlog.contextvars.clear_contextvars()
    configure_logging("console", "warning")  # the root handler back to a quiet default


def json_lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_a_kafka_python_warning_comes_out_as_json_with_its_logger_name(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    structlog.contextvars.bind_contextvars(process="relay", complaint_id="c-1")
    logging.getLogger("kafka.conn").warning("Connection to %s refused", "broker:9092")
    (line,) = json_lines(capsys.readouterr().err)
    assert line["event"] == "Connection to broker:9092 refused"
    assert line["logger"] == "kafka.conn"
    assert line["level"] == "warning"
    assert line["process"] == "relay"
    assert line["complaint_id"] == "c-1"
    assert "timestamp" in line


def test_ours_and_the_libraries_share_one_handler(caplog: pytest.LogCaptureFixture) -> None:
    """Our structlog events are standard-library records too (what caplog sees), named by
    their logger; kafka-python's info chatter stays out at info level, its warnings do not."""
    configure_logging("json", "info")
    caplog.set_level(logging.INFO)
    structlog.get_logger("lapor_es.kafka.relay").info("relay.published", count=3)
    logging.getLogger("alembic.runtime.migration").info("Running upgrade")
    logging.getLogger("kafka.client").info("Bootstrapping cluster metadata")
    logging.getLogger("kafka.client").warning("Node 1 connection failed")
    names = [(r.name, r.levelname) for r in caplog.records]
    assert ("lapor_es.kafka.relay", "INFO") in names
    assert ("alembic.runtime.migration", "INFO") in names
    assert ("kafka.client", "WARNING") in names
    assert ("kafka.client", "INFO") not in names


def test_an_exception_is_one_json_line_with_its_traceback(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    try:
        raise ValueError("bad row")
    except ValueError:
        logging.getLogger("eventsourcing.system").exception("processing failed")
    (line,) = json_lines(capsys.readouterr().err)
    assert line["logger"] == "eventsourcing.system"
    assert "ValueError: bad row" in str(line["exception"])


def test_the_startup_probe_turns_a_broker_error_into_one_startup_error(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    with pytest.raises(StartupError) as raised, startup_probe("the relay", "kafka:9092"):
        logging.getLogger("kafka.net.manager").error("Bootstrap connection failed")  # quiet
        raise KafkaTimeoutError("Unable to bootstrap from kafka:9092")
    assert str(raised.value) == (
        "the relay cannot start: Kafka at kafka:9092: "
        "KafkaTimeoutError: Unable to bootstrap from kafka:9092"
    )
    assert capsys.readouterr().err == ""
    logging.getLogger("kafka.net.manager").warning("after the probe")  # heard again
    assert json_lines(capsys.readouterr().err)[0]["event"] == "after the probe"


def test_configuring_twice_keeps_one_root_handler() -> None:
    configure_logging("json", "info")
    configure_logging("console", "debug")
    ours = [h for h in logging.getLogger().handlers if type(h).__name__ == "_OurHandler"]
    assert len(ours) == 1


def test_capture_logs_sees_the_bound_process_role() -> None:
    structlog.contextvars.bind_contextvars(process="router")
    with capture_logs(processors=[structlog.contextvars.merge_contextvars]) as logs:
        structlog.get_logger("lapor_es.feeds.router").warning("router.restart", error="x")
    assert logs == [
        {"event": "router.restart", "error": "x", "process": "router", "log_level": "warning"}
    ]


def test_relay_start_against_an_unreachable_broker_is_one_line_and_a_non_zero_exit(
    tmp_path: Path,
) -> None:
    closed = free_port()  # nothing listens there
    env = os.environ | {
        "LAPOR_DATABASE_URL": f"sqlite:///{tmp_path}/lapor.sqlite3",
        "LAPOR_REPORTER_PEPPER": "test-pepper",
        "LAPOR_KAFKA_BOOTSTRAP": f"127.0.0.1:{closed}",
        "LAPOR_LOG_FORMAT": "json",
    }
    done = subprocess.run(
        [sys.executable, "-m", "lapor_es.cli", "relay", "--until-caught-up"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 3, done.stderr[-2000:]
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-2000:]
    (line,) = json_lines(lines[0])
    assert line["event"] == "startup.failed"
    assert line["process"] == "relay"
    assert line["level"] == "error"
    assert f"the relay cannot start: Kafka at 127.0.0.1:{closed}" in str(line["error"])
    assert done.stdout == ""
