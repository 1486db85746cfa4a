"""A real `lapor-es serve` process for integration tests: its own free port, a readiness
wait with a deadline, and its log kept for the failure message."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

LAPOR = [sys.executable, "-m", "lapor_es.cli"]
READY_DEADLINE = 90.0  # seconds: migrations on a fresh database, a loaded 2-core machine
STOP_DEADLINE = 30.0


def free_port() -> int:
    """A port the OS says is free now (another process could take it before the server
    binds; then the readiness wait fails with the server's log, which says so)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, **extra: str) -> dict[str, str]:
    return (
        dict(os.environ)
        | {
            "LAPOR_DATABASE_URL": database_url,
            "LAPOR_REPORTER_PEPPER": "test-pepper",
            "LAPOR_LOG_FORMAT": "json",
            "LAPOR_LOG_LEVEL": "warning",
        }
        | extra
    )


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    base_url: str
    log: Path

    def log_tail(self, lines: int = 40) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=STOP_DEADLINE)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=STOP_DEADLINE)


def start_server(
    database_url: str, workdir: Path, *args: str, env: dict[str, str] | None = None
) -> Server:
    """Start `lapor-es serve` on `database_url` and wait until /readyz answers 200."""
    port = free_port()
    log = workdir / f"serve-{port}.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [*LAPOR, "serve", "--host", "127.0.0.1", "--port", str(port), *args],
            stdout=sink,
            stderr=subprocess.STDOUT,
            env=server_env(database_url, **(env or {})),
            cwd=workdir,
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    deadline = time.monotonic() + READY_DEADLINE
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"lapor-es serve exited with {process.returncode}:\n{server.log_tail()}"
            )
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=2.0).status_code == 200:
                return server
        except httpx.TransportError:
            pass  # not listening yet
        time.sleep(0.2)
    server.stop()
    raise TimeoutError(
        f"lapor-es serve on port {port} was not ready (GET /readyz 200) within "
        f"{READY_DEADLINE:g} s:\n{server.log_tail()}"
    )
