"""Reproducible installs (issue 12): pyproject.toml names compatible ranges, the lock files pin
every package, transitive ones too, at a version inside those ranges with its hashes, and
the Makefile and deploy/Dockerfile install from the locks with --require-hashes; the image
runs as an unprivileged user. No Docker here: the Dockerfile is checked as text."""

from __future__ import annotations

import re
import shlex
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
RUNTIME_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
BUILD_LOCK = ROOT / "requirements-build.lock"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"


@dataclass(frozen=True)
class Pin:
    name: str  # canonical (PEP 503)
    version: Version
    hashes: tuple[str, ...]


def read_lock(path: Path) -> dict[str, Pin]:
    """Each requirement of a pip requirements file: `name==version \\` then `--hash=` lines."""
    text = path.read_text(encoding="utf-8")
    entries = re.split(r"\n(?=\S)", re.sub(r"\s*#[^\n]*", "", text).strip())
    pins: dict[str, Pin] = {}
    for entry in entries:
        words = entry.replace("\\\n", " ").split()
        requirement = Requirement(words[0])
        (spec,) = requirement.specifier
        assert spec.operator == "==", f"{path.name}: {words[0]} is not an exact pin"
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"{path.name}: {name} twice"
        hashes = tuple(w.removeprefix("--hash=") for w in words[1:] if w.startswith("--hash="))
        assert len(hashes) == len(words) - 1, f"{path.name}: {words[0]}: more than hashes"
        pins[name] = Pin(name, Version(spec.version), hashes)
    return pins


def project() -> dict[str, list[str]]:
    """The runtime dependencies ("") and each optional group of pyproject.toml."""
    with (ROOT / "pyproject.toml").open("rb") as f:
        table = tomllib.load(f)["project"]
    groups: dict[str, list[str]] = {"": table["dependencies"], **table["optional-dependencies"]}
    return groups


def test_runtime_dependencies_are_ranges_not_pins() -> None:
    """A library that agency backends import must not force exact versions on them."""
    pinned = [d for d in project()[""] if "==" in d or "===" in d]
    assert pinned == []
    unbounded = [d for d in project()[""] if not Requirement(d).specifier]
    assert unbounded == [], "every runtime dependency names at least the version it was tested at"


@pytest.mark.parametrize("lock", [RUNTIME_LOCK, DEV_LOCK, BUILD_LOCK], ids=lambda p: p.name)
def test_every_locked_package_carries_sha256_hashes(lock: Path) -> None:
    pins = read_lock(lock)
    assert pins, f"{lock.name} pins nothing"
    unhashed = [p.name for p in pins.values() if not p.hashes]
    assert unhashed == []
    assert all(re.fullmatch(r"sha256:[0-9a-f]{64}", h) for p in pins.values() for h in p.hashes)


@pytest.mark.parametrize(
    ("lock", "groups"), [(RUNTIME_LOCK, [""]), (DEV_LOCK, ["", "dev"])], ids=["runtime", "dev"]
)
def test_the_lock_pins_every_dependency_inside_its_range(lock: Path, groups: list[str]) -> None:
    """A dependency added to pyproject.toml or moved out of the locked version's range fails
    here until `make lock` is run."""
    pins = read_lock(lock)
    for group in groups:
        for dependency in project()[group]:
            requirement = Requirement(dependency)
            pin = pins.get(canonicalize_name(requirement.name))
            assert pin is not None, f"{lock.name} lacks {requirement.name}"
            assert requirement.specifier.contains(pin.version, prereleases=True), (
                f"{lock.name} pins {pin.name}=={pin.version}, outside {dependency!r}"
            )


def test_the_dev_lock_is_the_runtime_lock_plus_the_dev_tools() -> None:
    """Tests run against the same runtime versions as the image installs."""
    runtime, dev = read_lock(RUNTIME_LOCK), read_lock(DEV_LOCK)
    differing = [
        f"{name}: {pin.version} vs {dev[name].version if name in dev else 'missing'}"
        for name, pin in runtime.items()
        if name not in dev or dev[name].version != pin.version
    ]
    assert differing == []


def test_the_build_lock_has_setuptools_at_the_dev_locks_version() -> None:
    build, dev = read_lock(BUILD_LOCK), read_lock(DEV_LOCK)
    assert build["setuptools"].version == dev["setuptools"].version
    with (ROOT / "pyproject.toml").open("rb") as f:
        (requires,) = [r for r in tomllib.load(f)["build-system"]["requires"] if "setuptools" in r]
    assert Requirement(requires).specifier.contains(build["setuptools"].version)


def test_the_makefile_installs_the_dev_lock_with_hashes_then_the_package_alone() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    rule = re.search(r"^\$\(STAMP\):([^\n]*)\n((?:\t[^\n]*\n)+)", makefile, re.MULTILINE)
    assert rule is not None, "no $(STAMP) rule"
    prerequisites, recipe = rule.group(1).split(), rule.group(2)
    assert {"pyproject.toml", RUNTIME_LOCK.name, DEV_LOCK.name} <= set(prerequisites)
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    assert len(installs) == 2, installs
    assert "--require-hashes -r requirements-dev.lock" in installs[0]
    assert "--no-deps" in installs[1].split() and "-e" in installs[1].split()


# ------------------------------------------------------------------------------ the Dockerfile
def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of deploy/Dockerfile, continuation lines joined."""
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n", " ", "\n".join(lines))
    out = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, arguments = line.strip().partition(" ")
            out.append((keyword.upper(), arguments.strip()))
    return out


def pip_installs(run: str) -> list[list[str]]:
    """The arguments of each `pip install` in a RUN's shell command."""
    commands = re.split(r"&&|;|\|\|", run)
    return [
        words[words.index("install") + 1 :]
        for words in (shlex.split(c) for c in commands)
        if "pip" in words and "install" in words
    ]


def test_the_image_runs_as_an_unprivileged_user() -> None:
    steps = instructions()
    users = [(i, arguments) for i, (keyword, arguments) in enumerate(steps) if keyword == "USER"]
    assert users, "no USER: the image would run as root"
    last_index, last_user = users[-1]
    user = last_user.split(":")[0]
    assert user not in {"root", "0"}
    created = " ".join(a for k, a in steps[:last_index] if k == "RUN")
    assert re.search(rf"useradd\b[^&]*--uid 10001\b[^&]*\b{user}\b", created), created
    later = [k for k, _ in steps[last_index + 1 :]]
    assert "RUN" not in later, "nothing runs as root after USER"
    assert later[-2:] == ["ENTRYPOINT", "CMD"]


def test_the_image_installs_from_the_lock_with_hashes() -> None:
    installs = [args for k, a in instructions() if k == "RUN" for args in pip_installs(a)]
    hashed = [args for args in installs if "--require-hashes" in args]
    assert any(RUNTIME_LOCK.name in args for args in hashed), "requirements.lock, hashed"
    # Nothing else brings dependencies in: every other install is of lapor-es alone.
    others = [args for args in installs if args not in hashed]
    assert others and all("--no-deps" in args for args in others), others
