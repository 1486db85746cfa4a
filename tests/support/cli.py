"""Running the real `lapor-es` command in a subprocess on a test's own SQLite file."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

LAPOR = [sys.executable, "-m", "lapor_es.cli"]


def cli(
    tmp_path: Path, *args: str, stdin: str = "", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    environment = (
        os.environ
        | {
            "LAPOR_DATABASE_URL": f"sqlite:///{tmp_path}/lapor.sqlite3",
            "LAPOR_LOG_FORMAT": "json",
        }
        | (env or {})
    )
    return subprocess.run(
        [*LAPOR, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=environment,
        cwd=tmp_path,
        timeout=300,
        check=False,
    )
