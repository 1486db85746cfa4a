"""A wheel built from the tree ships what an installed lapor-es needs at run time besides its
code: the JSON Schemas (records' `dataschema` resolves to them) and the Alembic migrations."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lapor_es.contract import schemas

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]


def build_wheel(tmp_path: Path) -> Path:
    """`pip wheel` on a copy of the tree, offline: the virtualenv's setuptools builds it (no
    isolated build environment to download), and the working tree gets no build/ folder."""
    source = tmp_path / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (REPO / name).exists():
            shutil.copy2(REPO / name, source / name)
    shutil.copytree(
        REPO / "src", source / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    out = tmp_path / "dist"
    offline = ["--no-deps", "--no-build-isolation", "--no-index"]
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", *offline, "--wheel-dir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    (wheel,) = out.glob("lapor_es-*.whl")
    return wheel


def test_the_wheel_ships_the_schemas_and_the_migrations(tmp_path: Path) -> None:
    with zipfile.ZipFile(build_wheel(tmp_path)) as wheel:
        names = set(wheel.namelist())
        for kind in schemas.published_types():
            shipped = f"lapor_es/contract/schemas/{kind}.json"
            assert shipped in names
            assert json.loads(wheel.read(shipped)) == schemas.load(kind)
        for package in ("readmodels", "auth"):
            migrations = f"lapor_es/{package}/migrations/"
            assert f"{migrations}env.py" in names
            assert f"{migrations}script.py.mako" in names
            versions = [
                n for n in names if n.startswith(f"{migrations}versions/") and n.endswith(".py")
            ]
            on_disk = sorted((REPO / "src" / migrations / "versions").glob("[0-9]*.py"))
            assert len(versions) >= len(on_disk) >= 1, (package, versions)
