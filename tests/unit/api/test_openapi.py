"""docs/openapi.json is the document the routes generate (regenerate: make openapi)."""

from __future__ import annotations

import json
from pathlib import Path

from lapor_es.api.app import routes_app
from lapor_es.api.openapi import main, rendered

COMMITTED = Path(__file__).resolve().parents[3] / "docs" / "openapi.json"


def test_the_committed_openapi_document_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == rendered(routes_app()), (
        "docs/openapi.json is stale: run `make openapi`"
    )


def test_the_check_mode_tells_a_stale_file(tmp_path: Path) -> None:
    stale = tmp_path / "openapi.json"
    stale.write_text("{}\n", encoding="utf-8")
    assert main([str(stale), "--check"]) == 1
    assert main([str(stale)]) == 0
    assert main([str(stale), "--check"]) == 0


def test_errors_are_documented_as_problems_not_fastapi_422s() -> None:
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    responses = doc["paths"]["/v1/commands"]["post"]["responses"]
    assert "422" not in responses
    problem = responses["400"]["content"]["application/problem+json"]["schema"]
    assert problem == {"$ref": "#/components/schemas/Problem"}
    assert set(doc["components"]["securitySchemes"]) == {
        "PrincipalToken",
        "ReporterTrackingId",
        "ReporterAccessCode",
    }


def test_a_reporter_needs_both_headers_and_a_principal_its_token() -> None:
    doc = json.loads(COMMITTED.read_text(encoding="utf-8"))
    security = doc["paths"]["/v1/commands"]["post"]["security"]
    assert security == [
        {"PrincipalToken": []},
        {"ReporterTrackingId": [], "ReporterAccessCode": []},
    ]
