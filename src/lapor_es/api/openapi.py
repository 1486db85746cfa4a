"""The OpenAPI document of the door, as committed in docs/openapi.json.

FastAPI generates it from the routes; two corrections make it tell the truth about our
errors: FastAPI's default 422 (we answer 400 for bad input) is replaced by our problem+json
responses, and every operation lists the problem statuses it can answer.

Regenerate: `make openapi` (python -m lapor_es.api.openapi docs/openapi.json);
tests/unit/api/test_openapi.py fails while the committed file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel, Field

PROBLEM_STATUSES = {
    "400": "Bad request: `validation_error` names each field and rule in `errors`",
    "401": "No valid credentials (`unauthenticated`)",
    "403": "The caller may not do this (`forbidden`, `actor_mismatch`, `not_authorized`)",
    "404": "Not found, or not visible to this caller (the same answer)",
    "409": "`conflict`, `invalid_transition`, `rule_violation`, `already_recorded`",
    "413": "The body is larger than the limit (`too_large`)",
    "429": "Rate limited (`rate_limited`, `too_many_attempts`); see Retry-After",
    "503": "The request took longer than the limit (`timeout`)",
}
PUBLIC_ROUTES = ("/healthz", "/readyz", "/metrics")
# A reporter sends both headers (api/deps.py); FastAPI lists each security dependency as an
# alternative of its own, as if either header alone would do.
REPORTER_SCHEMES = ("ReporterTrackingId", "ReporterAccessCode")


class ProblemError(BaseModel):
    field: str | None = Field(None, description="the field's path, e.g. reporter.phone")
    rule: str = Field(description="the rule broken, e.g. string_too_short")
    message: str


class Problem(BaseModel):
    """RFC 9457 problem details with our stable code."""

    type: str = Field(description="https://lapor.go.id/problems/<code>")
    title: str
    status: int
    detail: str
    code: str = Field(description="the stable error code, as `lapor-es exec` reports it")
    errors: list[ProblemError] | None = None


def _problem_responses(path: str) -> dict[str, Any]:
    if path in PUBLIC_ROUTES:
        return {}
    ref = {"$ref": "#/components/schemas/Problem"}
    return {
        status: {"description": text, "content": {"application/problem+json": {"schema": ref}}}
        for status, text in PROBLEM_STATUSES.items()
    }


def _reporter_headers_together(security: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The operation's security requirements with the two reporter headers as one
    requirement (both needed), beside the bearer token (OpenAPI: a list of alternatives,
    each an object of schemes required together)."""
    named = {scheme for requirement in security for scheme in requirement}
    if not set(REPORTER_SCHEMES) <= named:
        return security
    others = [r for r in security if not set(r) & set(REPORTER_SCHEMES)]
    return [*others, {scheme: [] for scheme in REPORTER_SCHEMES}]


def document(app: FastAPI) -> dict[str, Any]:
    doc = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    schemas = doc.setdefault("components", {}).setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
    problem = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(problem.pop("$defs", {}))
    schemas["Problem"] = problem
    for path, operations in doc["paths"].items():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            responses.pop("422", None)
            if "security" in operation:
                operation["security"] = _reporter_headers_together(operation["security"])
            for status, response in _problem_responses(path).items():
                responses.setdefault(status, response)
    return doc


def rendered(app: FastAPI) -> str:
    return json.dumps(document(app), indent=2, ensure_ascii=False, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    """`python -m lapor_es.api.openapi PATH [--check]`: write the document, or check it."""
    from lapor_es.api.app import routes_app

    path = Path(argv[0]) if argv else Path("docs/openapi.json")
    text = rendered(routes_app())
    if "--check" in argv:
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            print(f"stale: {path} (regenerate with make openapi)", file=sys.stderr)
            return 1
        return 0
    path.write_text(text, encoding="utf-8")
    print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
