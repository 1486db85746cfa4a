"""JSON Schemas of the two router-made feed events, generated into docs/schemas/.

Passed-through complaint events keep their own schemas (contract/schemas.py).
"""

from __future__ import annotations

import json
from pathlib import Path

from lapor_es.contract.feeds import FEED_MODELS, feed_ce_type
from lapor_es.contract.schemas import SCHEMA_DIR


def feed_schema_documents() -> dict[str, str]:
    """File name -> schema text, one per feed event type."""
    documents = {}
    for name, model in FEED_MODELS.items():
        kind = feed_ce_type(name)
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": f"https://lapor.go.id/schemas/{kind}.json",
            "description": f"Payload of CloudEvents type {kind} on the agency feed topics "
            "lapor.agency.<CODE>.v1",
            **model.model_json_schema(mode="serialization"),
        }
        documents[f"{kind}.json"] = json.dumps(schema, indent=2, sort_keys=True) + "\n"
    return documents


def write_feed_schemas(directory: Path = SCHEMA_DIR) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in feed_schema_documents().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def stale_feed_schemas(directory: Path = SCHEMA_DIR) -> list[str]:
    """Names of feed schema files that are missing, different, or no longer generated."""
    expected = feed_schema_documents()
    stale = [
        name
        for name, text in expected.items()
        if not (directory / name).exists() or (directory / name).read_text(encoding="utf-8") != text
    ]
    stale += [p.name for p in directory.glob("id.go.lapor.agency.*.json") if p.name not in expected]
    return sorted(stale)
