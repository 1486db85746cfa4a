"""Real PostgreSQL and Kafka for integration tests, via the launchers in deploy/.

Fixtures call :func:`ensure_postgres` / :func:`ensure_kafka`. Each returns connection details
taken from the environment when set (CI, or a developer's own services), otherwise it starts the
throwaway local service with its launcher and returns that:

=================  ===========================  =====================================
service            environment override         launcher (started when no override)
=================  ===========================  =====================================
PostgreSQL         ``LAPOR_TEST_DATABASE_URL``  ``deploy/postgres/pg start`` -> ``pg url``
Kafka (KRaft)      ``LAPOR_KAFKA_BOOTSTRAP``    ``deploy/kafka/broker start`` -> ``bootstrap``
=================  ===========================  =====================================

:func:`stop_started_services` stops only what this process started (a service that was already
running, or came from the environment, is left alone). See docs/operations.md, "Local services".
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Final

__all__ = [
    "KAFKA_LAUNCHER",
    "PG_LAUNCHER",
    "REPO_ROOT",
    "ServiceUnavailableError",
    "ci_mode",
    "ensure_kafka",
    "ensure_postgres",
    "stop_started_services",
]

REPO_ROOT: Final[Path] = Path(__file__).resolve().parents[2]
PG_LAUNCHER: Final[Path] = REPO_ROOT / "deploy" / "postgres" / "pg"
KAFKA_LAUNCHER: Final[Path] = REPO_ROOT / "deploy" / "kafka" / "broker"

POSTGRES_URL_ENV: Final = "LAPOR_TEST_DATABASE_URL"
KAFKA_BOOTSTRAP_ENV: Final = "LAPOR_KAFKA_BOOTSTRAP"

# Seconds. Kafka's first start may download ~45 MB of jars with Maven; the broker itself
# waits at most LAPOR_KAFKA_START_TIMEOUT (90 s) for readiness.
PG_START_TIMEOUT: Final = 180.0
KAFKA_START_TIMEOUT: Final = 900.0
STOP_TIMEOUT: Final = 120.0

# Marker the launchers print on stderr when `start` found the service already running.
_ALREADY_RUNNING: Final = "already running"

_lock = threading.Lock()
_endpoints: dict[str, str] = {}  # service -> URL / bootstrap handed out by this process
_started: dict[str, Path] = {}  # service -> launcher, only for services this process started


class ServiceUnavailableError(RuntimeError):
    """A required local service could not be started or reached.

    ``output`` holds what the launcher printed (its stderr includes the server log tail).
    """

    def __init__(self, service: str, message: str, output: str = "") -> None:
        self.service = service
        self.output = output
        text = f"{service}: {message}"
        if output.strip():
            text += f"\n--- launcher output ---\n{output.rstrip()}"
        super().__init__(text)


def ci_mode() -> bool:
    """True on CI (``CI=true``, as GitHub Actions and most CI systems set it).

    Fixtures use it to fail, rather than skip, when a service is unavailable.
    """
    return os.environ.get("CI") == "true"


def _launcher_env() -> dict[str, str]:
    env = dict(os.environ)
    # The Kafka readiness probe needs kafka-python: use the interpreter running the tests.
    env.setdefault("LAPOR_PYTHON", sys.executable)
    return env


def _run(
    service: str, launcher: Path, *args: str, timeout: float
) -> subprocess.CompletedProcess[str]:
    if not launcher.is_file():
        raise ServiceUnavailableError(service, f"launcher not found: {launcher}")
    command = ["bash", str(launcher), *args]
    try:
        return subprocess.run(
            command,
            cwd=REPO_ROOT,
            env=_launcher_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        output = _text(exc.stdout) + _text(exc.stderr)
        raise ServiceUnavailableError(
            service, f"`{' '.join(command[1:])}` timed out after {timeout:.0f}s", output
        ) from exc
    except OSError as exc:
        raise ServiceUnavailableError(service, f"cannot run {launcher}: {exc}") from exc


def _text(value: str | bytes | None) -> str:
    if value is None:
        return ""
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _last_line(result: subprocess.CompletedProcess[str]) -> str:
    lines = [line.strip() for line in result.stdout.splitlines() if line.strip()]
    return lines[-1] if lines else ""


def _ensure(service: str, env_var: str, launcher: Path, query: str, start_timeout: float) -> str:
    override = os.environ.get(env_var, "").strip()
    if override:
        return override
    with _lock:
        if service in _endpoints:
            return _endpoints[service]
        started = _run(service, launcher, "start", timeout=start_timeout)
        if started.returncode != 0:
            raise ServiceUnavailableError(
                service,
                f"`{launcher.relative_to(REPO_ROOT)} start` failed with exit code "
                f"{started.returncode} (set {env_var} to use an existing service)",
                started.stdout + started.stderr,
            )
        if _ALREADY_RUNNING not in started.stderr:
            _started[service] = launcher
        queried = _run(service, launcher, query, timeout=30.0)
        endpoint = _last_line(queried)
        if queried.returncode != 0 or not endpoint:
            raise ServiceUnavailableError(
                service,
                f"`{launcher.relative_to(REPO_ROOT)} {query}` gave no answer",
                queried.stdout + queried.stderr,
            )
        _endpoints[service] = endpoint
        return endpoint


def ensure_postgres() -> str:
    """URL of a PostgreSQL database for tests, starting the local cluster if needed.

    ``$LAPOR_TEST_DATABASE_URL`` when set; otherwise ``deploy/postgres/pg start`` and the
    launcher's ``url`` (``postgresql://lapor:lapor@127.0.0.1:55432/lapor`` by default).
    Raises :class:`ServiceUnavailableError` with the launcher's output on failure.
    """
    return _ensure("postgres", POSTGRES_URL_ENV, PG_LAUNCHER, "url", PG_START_TIMEOUT)


def ensure_kafka() -> str:
    """Bootstrap servers (``host:port``) of a Kafka broker for tests, starting one if needed.

    ``$LAPOR_KAFKA_BOOTSTRAP`` when set; otherwise ``deploy/kafka/broker start`` (which fetches
    the jars with Maven on first use) and the launcher's ``bootstrap`` (``127.0.0.1:59092`` by
    default). Raises :class:`ServiceUnavailableError` with the launcher's output on failure.
    """
    return _ensure("kafka", KAFKA_BOOTSTRAP_ENV, KAFKA_LAUNCHER, "bootstrap", KAFKA_START_TIMEOUT)


def stop_started_services(*, even_under_xdist: bool = False) -> list[str]:
    """Stop the services this process started; return their names.

    PostgreSQL is stopped and keeps its data (the next start skips initdb); the Kafka broker is
    stopped and its data dir wiped. Services that were already running, or given through the
    environment, are never touched.

    Under pytest-xdist every worker is its own process and the worker that happened to start a
    service cannot know whether the others are done with it, so by default nothing is stopped in
    a worker (``PYTEST_XDIST_WORKER`` set); the services stay up for the next run. Stop them with
    the launchers, or start them before pytest (as CI does) and stop them afterwards.
    """
    if os.environ.get("PYTEST_XDIST_WORKER") and not even_under_xdist:
        return []
    stopped: list[str] = []
    failures: list[str] = []
    with _lock:
        for service in ("kafka", "postgres"):
            launcher = _started.get(service)
            if launcher is None:
                continue
            try:
                result = _run(service, launcher, "stop", timeout=STOP_TIMEOUT)
            except ServiceUnavailableError as exc:
                failures.append(str(exc))
                continue
            if result.returncode != 0:
                failures.append(
                    f"{service}: stop failed with exit code {result.returncode}\n"
                    f"{result.stdout}{result.stderr}"
                )
                continue
            del _started[service]
            _endpoints.pop(service, None)
            stopped.append(service)
    if failures:
        raise RuntimeError("could not stop local services:\n" + "\n".join(failures))
    return stopped
