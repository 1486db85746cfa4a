"""Errors as RFC 9457 problem details (application/problem+json), with our stable codes.

Every refusal the door sends has `type`, `title`, `status`, `detail` and `code` (the same
code `lapor-es exec` reports); validation errors add `errors`, one per field and rule.
The HTTP status follows the code (STATUS_BY_CODE); an unknown code is a 400, so a bad
request never turns into a 5xx.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from lapor_es import commands as c
from lapor_es.aggregates import DomainError

PROBLEM_JSON = "application/problem+json"
TYPE_BASE = "https://lapor.go.id/problems/"  # type URIs name the code; docs/api.md lists them

STATUS_BY_CODE: dict[str, int] = {
    "validation_error": 400,
    "unknown_agency": 400,
    "unsupported_option": 400,
    "domain_error": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "actor_mismatch": 403,
    "not_authorized": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "conflict": 409,
    "invalid_transition": 409,
    "rule_violation": 409,
    "already_recorded": 409,
    "too_large": 413,
    "unsupported_media_type": 415,
    "rate_limited": 429,
    "too_many_attempts": 429,
    "internal_error": 500,
    "timeout": 503,
}

TITLES: dict[int, str] = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    409: "Conflict",
    413: "Content Too Large",
    415: "Unsupported Media Type",
    429: "Too Many Requests",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


def status_for(code: str) -> int:
    return STATUS_BY_CODE.get(code, 400)


class Problem(Exception):
    """Raised by routes and dependencies; rendered by the handler installed below."""

    def __init__(
        self,
        code: str,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = headers or {}
        self.status = status or status_for(code)


def problem_body(
    status: int, code: str, detail: str, errors: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "type": TYPE_BASE + code,
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
    }
    if errors:
        body["errors"] = errors
    return body


def problem_response(problem: Problem) -> JSONResponse:
    return JSONResponse(
        problem_body(problem.status, problem.code, problem.detail, problem.errors),
        status_code=problem.status,
        headers=problem.headers,
        media_type=PROBLEM_JSON,
    )


def from_domain(exc: DomainError) -> Problem:
    details = [exc.details] if exc.details else None
    return Problem(exc.code, exc.message, errors=details)


def field_errors(exc: ValidationError | RequestValidationError) -> list[dict[str, Any]]:
    """One entry per broken rule: the field path (without pydantic's union tag or FastAPI's
    "body"/"query" prefix), the rule and pydantic's message. As `lapor-es exec` reports."""
    out = []
    for err in exc.errors():
        loc = [str(part) for part in err["loc"]]
        if loc and loc[0] in ("body", "query", "path", "header"):
            loc = loc[1:]
        if loc and loc[0] in c.COMMAND_NAMES:
            loc = loc[1:]
        out.append({"field": ".".join(loc) or None, "rule": err["type"], "message": err["msg"]})
    return out


def validation_problem(exc: ValidationError | RequestValidationError) -> Problem:
    errors = field_errors(exc)
    summary = "; ".join(
        f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors
    )
    return Problem("validation_error", summary or "invalid request", errors=errors)


def install(app: FastAPI) -> None:
    """Render every error the door can raise as a problem."""

    async def on_problem(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, Problem)
        return problem_response(exc)

    async def on_domain(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DomainError)
        return problem_response(from_domain(exc))

    async def on_validation(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return problem_response(validation_problem(exc))

    async def on_http(_: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = {404: "not_found", 405: "method_not_allowed", 413: "too_large"}.get(
            exc.status_code, "validation_error" if exc.status_code < 500 else "internal_error"
        )
        detail = exc.detail if isinstance(exc.detail, str) else TITLES.get(exc.status_code, "")
        return problem_response(
            Problem(code, detail, status=exc.status_code, headers=dict(exc.headers or {}))
        )

    async def on_crash(_: Request, exc: Exception) -> JSONResponse:
        # Not bad input (that is a 4xx above): a bug or an outage. Logged by the server.
        return problem_response(Problem("internal_error", "the server failed; retry later"))

    app.add_exception_handler(Problem, on_problem)
    app.add_exception_handler(DomainError, on_domain)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(Exception, on_crash)
