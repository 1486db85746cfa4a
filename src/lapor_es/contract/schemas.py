"""JSON Schemas of everything published, generated into docs/schemas/ (a test keeps them
fresh): the complaint event payloads of lapor.complaints.v1 and the two events the agency
router adds on the feeds (passed-through complaint events keep their own schemas)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from pydantic import BaseModel

from lapor_es.contract.cloudevents import ce_type
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


def schema_documents() -> dict[str, str]:
    """File name -> schema text, one per published event type."""
    documents = {}
    for kind, model, where in _published():
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://lapor.go.id/schemas/{kind}.json",
            "description": f"Payload of CloudEvents type {kind} on {where}",
            **model.model_json_schema(mode="serialization"),
        }
        documents[f"{kind}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return documents


def write_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in schema_documents().items():
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
