"""`POST /v1/commands`: one command, or `{"commands": [...]}` run in order, one result each.

Each command goes through the same steps, and stops at the first refusal:
1. the actor is derived from the caller (auth.policy.command_with_actor): a role that may
   not send the command, or a body naming another actor, is refused before anything else;
   only system and national_admin principals may set the business time `at` (MAY_SET_AT);
2. the command is validated (commands.parse_command): nothing invalid reaches the store;
3. object-level authorization: an agency may only act on a complaint its own agency (or a
   unit of it) holds; any other answers not_found, exactly like a complaint that does not
   exist, so an agency cannot probe for confidential complaints;
4. the service layer decides (LaporApp.handle), with the same codes as `lapor-es exec`.

A batch is run like `lapor-es exec` runs lines: in order, each on its own (not one
transaction), and a refused command does not stop the rest.

Filing: the idempotency key is namespaced by the principal's id before the engine sees it,
so one channel can never replay (or collide with) another's key. A successful filing
returns the reporter's access code, once. A duplicate replay by the same principal issues
a fresh code and the earlier one stops working: the first response may have been lost, and
the code cannot be shown again since only its hash is kept.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from lapor_es import commands as c
from lapor_es.aggregates import DomainError
from lapor_es.api.deps import CallerDep, DoorDep
from lapor_es.api.door import Door
from lapor_es.api.problems import Problem, field_errors
from lapor_es.auth.policy import Caller, Refused, command_with_actor
from lapor_es.auth.principals import Principal, PrincipalRole

router = APIRouter(prefix="/v1", tags=["commands"])
log = structlog.get_logger("lapor_es.api")

MAX_BATCH = 100  # commands per request; more is a 400 (send several requests)

COMMAND_BODY_EXAMPLES = {
    "one command": {
        "summary": "a channel files a complaint (the door adds the actor and channel)",
        "value": {
            "command": "file",
            "title": "Jalan berlubang di depan sekolah",
            "description": "Lubang besar di jalan depan SDN 1, sudah dua minggu.",
            "category": "Infrastruktur",
            "reporter": {"name": "Siti Aminah", "phone": "081234567890"},
            "idempotency_key": "portal-2026-000001",
        },
    },
    "a batch": {
        "summary": "several commands in order, one result each",
        "value": {"commands": [{"command": "start", "complaint": "LAP-2026-0000001"}]},
    },
}


def _error(line: int, code: str, message: str, details: Any = None) -> dict[str, Any]:
    error = c.ErrorModel(code=code, message=message, details=details).model_dump()
    return {"ok": False, "line": line, "error": error}


def _check_object(door: Door, caller: Caller, command: c.Command) -> None:
    """Object-level authorization before the engine (OWASP API1): an agency acts only on a
    complaint held by its agency or a unit of it; anything else looks like no complaint."""
    if not (isinstance(caller, Principal) and caller.role == PrincipalRole.AGENCY_ADMIN):
        return
    if not isinstance(command, c.OnComplaint):
        return
    root = caller.agency
    try:
        complaint = door.lapor.complaint(command.complaint)
    except DomainError:
        complaint = None
    visible = (
        complaint is not None
        and root is not None
        and any(door.scope.within(code, root) for code in complaint.holder_chain)
    )
    if not visible:
        raise Problem("not_found", f"no complaint {command.complaint}")


# Who may say when something happened (a command's business time `at`): the SLA timer
# and the desk (corrections, backfills). Anyone else could backdate a filing or a response
# to beat a deadline. They are refused, not silently given the server's now, so that a
# client that believed it had set a time learns that it did not.
MAY_SET_AT = frozenset({PrincipalRole.SYSTEM, PrincipalRole.NATIONAL_ADMIN})


def _business_time_refusal(
    caller: Caller, line: int, body: dict[str, Any]
) -> dict[str, Any] | None:
    if body.get("at") is None or (isinstance(caller, Principal) and caller.role in MAY_SET_AT):
        return None
    who = caller.role if isinstance(caller, Principal) else "reporter"
    message = (
        f"a {who} may not set 'at' (only system and national_admin principals may): leave it "
        "out and the server's time is used"
    )
    details = [{"field": "at", "rule": "not_allowed_for_role", "message": message}]
    return _error(line, "validation_error", message, details)


def _namespaced(caller: Caller, command: c.Command) -> c.Command:
    if isinstance(command, c.FileComplaint) and command.idempotency_key:
        assert isinstance(caller, Principal), "only principals may file"
        # Past the length check on purpose: the client's key is validated, the prefix is ours.
        key = f"{caller.id}:{command.idempotency_key}"
        return command.model_copy(update={"idempotency_key": key})
    return command


def _decide(door: Door, caller: Caller, line: int, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        return _error(line, "validation_error", "a command is a JSON object")
    if c.holds_nul(body):  # before the actor is derived from it
        return _error(line, "validation_error", "text may not hold NUL characters (U+0000)")
    try:
        with_actor = command_with_actor(caller, body, door.scope)
    except Refused as exc:
        return _error(line, exc.code, exc.message)
    refusal = _business_time_refusal(caller, line, body)
    if refusal is not None:
        return refusal
    try:
        command = c.parse_command(with_actor)
    except ValidationError as exc:
        details = field_errors(exc)
        summary = "; ".join(f"{d['field']}: {d['message']}" for d in details)
        return _error(line, "validation_error", summary, details)
    try:
        _check_object(door, caller, command)
        outcome = door.lapor.handle(_namespaced(caller, command))
    except Problem as exc:
        return _error(line, exc.code, exc.detail)
    except DomainError as exc:
        return _error(line, exc.code, exc.message, exc.details or None)
    result: dict[str, Any] = {"ok": True, "line": line}
    if command.request_id:
        result["request_id"] = command.request_id
    result |= outcome.model_dump(exclude_none=True)
    if not (isinstance(caller, Principal) and caller.role == PrincipalRole.NATIONAL_ADMIN):
        result.pop("reporter_ref", None)  # the pseudonym is the desk's, not the caller's
    if isinstance(command, c.FileComplaint) and outcome.tracking_id:
        result["access_code"] = door.access_codes.issue(outcome.tracking_id, door.clock())
    return result


def run_command(door: Door, caller: Caller, line: int, body: Any) -> dict[str, Any]:
    """One command, start to finish, as a result object (never raises for bad input)."""
    name = body.get("command") if isinstance(body, dict) else None
    try:
        result = _decide(door, caller, line, body)
    except Exception:  # keep going: one broken command must not lose the rest of a batch
        log.exception("command.failed", line=line, command=name)
        result = _error(line, "internal_error", "the command failed in the server; retry")
    outcome = "ok" if result["ok"] else result["error"]["code"]
    label = name if isinstance(name, str) and name in c.COMMAND_NAMES else "unknown"
    door.metrics.command(label, outcome)
    return result


@router.post(
    "/commands",
    summary="Send one command, or a batch of commands",
    responses={
        200: {"description": "the result (one command) or the results in order (a batch)"},
        201: {"description": "a complaint was filed (not a duplicate): with its access code"},
    },
)
def post_commands(
    door: DoorDep,
    caller: CallerDep,
    body: dict[str, Any] = Body(  # noqa: B008 (FastAPI's idiom)
        ...,
        description="a command without 'actor' (the door derives it), or {'commands': [...]}",
        openapi_examples=COMMAND_BODY_EXAMPLES,  # type: ignore[arg-type]
    ),
) -> JSONResponse:
    if "commands" in body:
        items = body["commands"]
        if set(body) != {"commands"} or not isinstance(items, list):
            raise Problem("validation_error", "a batch is {'commands': [command, ...]} only")
        if not 1 <= len(items) <= MAX_BATCH:
            raise Problem(
                "validation_error",
                f"a batch holds 1 to {MAX_BATCH} commands, not {len(items)}",
                errors=[{"field": "commands", "rule": "length", "message": f"1..{MAX_BATCH}"}],
            )
        results = [run_command(door, caller, n, item) for n, item in enumerate(items, 1)]
        return JSONResponse({"results": results})
    result = run_command(door, caller, 1, body)
    if not result["ok"]:
        error = result["error"]
        details = error["details"]
        errors = details if isinstance(details, list) else ([details] if details else None)
        raise Problem(error["code"], error["message"], errors=errors)
    created = result["command"] == "file" and not result.get("duplicate")
    return JSONResponse(result, status_code=201 if created else 200)
