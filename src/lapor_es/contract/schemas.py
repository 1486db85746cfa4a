"""JSON Schemas of the payloads, generated into docs/schemas/ (a test keeps them fresh)."""

from __future__ import annotations

import json
from pathlib import Path

from lapor_es.contract.cloudevents import ce_type
from lapor_es.contract.payloads import PAYLOAD_MODELS

SCHEMA_DIR = Path("docs/schemas")


def schema_documents() -> dict[str, str]:
    """File name -> schema text, one per event type."""
    documents = {}
    for name, model in PAYLOAD_MODELS.items():
        kind = ce_type(name)
        schema = model.model_json_schema(mode="serialization")
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://lapor.go.id/schemas/{kind}.json",
            "description": f"Payload of CloudEvents type {kind} on topic lapor.complaints.v1",
            **schema,
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
    stale += [
        p.name for p in directory.glob("id.go.lapor.complaint.*.json") if p.name not in expected
    ]
    return sorted(stale)
