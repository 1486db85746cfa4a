"""The JSON Schemas shipped in the package: the same as the models generate, the same as the
docs' copy, and found by the `dataschema` a record carries."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from lapor_es.contract import schemas
from lapor_es.contract.cloudevents import dataschema, to_record
from tests.support.builders import collected_events, filed_complaint

DOCS = Path(__file__).resolve().parents[3] / "docs" / "schemas"


def test_the_package_and_docs_copies_are_fresh() -> None:
    stale = {str(home): schemas.stale_schemas(home) for home in schemas.schema_directories(DOCS)}
    assert stale == {str(home): [] for home in stale}, "run `lapor-es contract schemas`"


@pytest.mark.parametrize("kind", schemas.published_types())
def test_every_published_type_has_a_shipped_schema_named_by_its_dataschema(kind: str) -> None:
    shipped = schemas.load(kind)
    assert shipped["$id"] == dataschema(kind)
    assert schemas.resolve(dataschema(kind)) == shipped
    jsonschema.Draft202012Validator.check_schema(shipped)


def test_unknown_types_and_foreign_uris_are_not_resolved() -> None:
    for uri in (
        "urn:lapor-es:schema:id.go.lapor.complaint.nothing.v1",
        "urn:lapor-es:schema:../__init__.py",
        "https://example.org/schema.json",
    ):
        with pytest.raises(KeyError):
            schemas.resolve(uri)


def test_a_record_names_the_schema_that_validates_its_value() -> None:
    event = collected_events(filed_complaint(1))[0]
    record = to_record(event, position=1)
    headers = dict(record.headers)
    schema = schemas.resolve(headers["ce_dataschema"].decode())
    assert schema["$id"].endswith(headers["ce_type"].decode())
    jsonschema.Draft202012Validator(schema).validate(json.loads(record.value))
