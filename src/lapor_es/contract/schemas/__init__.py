"""JSON Schemas of every CloudEvents type published: shipped in the package, copied to docs/.

One schema (draft 2020-12) per type, generated from the payload models: the complaint events
of lapor.complaints.v1 and the two events the agency router adds on the feeds (passed-through
complaint events keep their own schemas). Each schema's `$id` is the URN that records carry
in their `ce_dataschema` header (`urn:lapor-es:schema:<ce_type>`), so a consumer resolves a
record's schema with `resolve(dataschema)`, offline, from the installed release.

The files next to this module are what the wheel ships; docs/schemas/ holds the same files
for readers of the repository. `lapor-es contract schemas` writes both, `--check` (and
tests/unit/contract/test_shipped_schemas.py) fails when either differs from the models.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from lapor_es.contract.cloudevents import DATASCHEMA_PREFIX, ce_type, dataschema
from lapor_es.contract.feeds import FEED_MODELS, feed_ce_type
from lapor_es.contract.payloads import PAYLOAD_MODELS

SCHEMA_DIR = Path("docs/schemas")
PUBLISHED = "id.go.lapor.*.json"


def _published() -> Iterator[tuple[str, type[BaseModel], str]]:
    """(CloudEvents type, payload model, where it is published) of every event type."""
    for name, model in PAYLOAD_MODELS.items():
        yield ce_type(name), model, "topic lapor.complaints.v1"
    for name, feed_model in FEED_MODELS.items():
        yield feed_ce_type(name), feed_model, "the agency feed topics lapor.agency.<CODE>.v1"


def published_types() -> list[str]:
    """Every CloudEvents type lapor-es publishes (each has a shipped schema)."""
    return [kind for kind, _, _ in _published()]


def schema_of(kind: str, model: type[BaseModel], where: str) -> dict[str, Any]:
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": dataschema(kind),
        "description": f"Payload of CloudEvents type {kind} on {where}",
        **model.model_json_schema(mode="serialization"),
    }


def schema_documents() -> dict[str, str]:
    """File name -> schema text, one per published event type (generated from the models)."""
    return {
        f"{kind}.json": json.dumps(schema_of(kind, model, where), indent=2, sort_keys=True) + "\n"
        for kind, model, where in _published()
    }


# ----------------------------------------------------------------------------- shipped
def load(kind: str) -> dict[str, Any]:
    """The shipped schema of CloudEvents type `kind` (`id.go.lapor.complaint.filed.v1`), a
    fresh copy on each call.

    Read from the installed package, not generated: this is what an integrator's copy holds.
    Raises KeyError for a type lapor-es does not publish."""
    schema: dict[str, Any] = json.loads(_shipped_text(kind))
    return schema


@cache
def _shipped_text(kind: str) -> str:
    shipped = resources.files(__name__).joinpath(f"{kind}.json")
    if not kind.startswith("id.go.lapor.") or "/" in kind or not shipped.is_file():
        raise KeyError(f"no shipped schema for CloudEvents type {kind!r}")
    return shipped.read_text(encoding="utf-8")


def resolve(dataschema_uri: str) -> dict[str, Any]:
    """The shipped schema a record's `ce_dataschema` names. Raises KeyError if none."""
    if not dataschema_uri.startswith(DATASCHEMA_PREFIX):
        raise KeyError(f"not a lapor-es dataschema: {dataschema_uri!r}")
    return load(dataschema_uri.removeprefix(DATASCHEMA_PREFIX))


def package_directory() -> Path:
    """Where the shipped schemas live in this checkout (for writing them; reading uses load)."""
    return Path(__file__).resolve().parent


def schema_directories(docs: Path = SCHEMA_DIR) -> list[Path]:
    """The two homes of the schemas, kept identical: the package's and the docs' copy."""
    return [package_directory(), docs]


# ----------------------------------------------------------------------------- writing
def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    """Write every schema to `directory`, and drop the ones no longer generated."""
    directory.mkdir(parents=True, exist_ok=True)
    expected = schema_documents()
    for old in directory.glob(PUBLISHED):
        if old.name not in expected:
            old.unlink()
    written = []
    for name, text in expected.items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of schema files that are missing, different, or no longer generated."""
    expected = schema_documents()
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]
    stale += [p.name for p in directory.glob(PUBLISHED) if p.name not in expected]
    return sorted(stale)
