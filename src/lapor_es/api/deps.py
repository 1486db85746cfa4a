"""Dependencies: the door, the caller, and the rate limit, for every route that needs them.

The caller is a principal (`Authorization: Bearer lpr_...`) or a reporter (headers
`X-Lapor-Tracking-Id` and `X-Lapor-Access-Code`). A bearer token wins when both are sent.
Once known, the caller takes a token from its rate bucket before the route runs.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from lapor_es.aggregates import DomainError
from lapor_es.api.door import Door
from lapor_es.api.limits import RateLimiter
from lapor_es.api.problems import Problem
from lapor_es.auth.access import TooManyAttempts
from lapor_es.auth.policy import Caller, ReporterCaller, kind_of
from lapor_es.auth.principals import Principal, PrincipalRole

bearer = HTTPBearer(
    auto_error=False,
    scheme_name="PrincipalToken",
    description="a principal's token: lpr_<id>_<secret>",
)
tracking_header = APIKeyHeader(
    name="X-Lapor-Tracking-Id",
    auto_error=False,
    scheme_name="ReporterTrackingId",
    description="reporter access: the complaint's tracking id (with X-Lapor-Access-Code)",
)
code_header = APIKeyHeader(
    name="X-Lapor-Access-Code",
    auto_error=False,
    scheme_name="ReporterAccessCode",
    description="reporter access: the access code returned when the complaint was filed",
)


def get_door(request: Request) -> Door:
    door: Door = request.app.state.door
    return door


def get_limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.limiter
    return limiter


DoorDep = Annotated[Door, Depends(get_door)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _throttle(limiter: RateLimiter, key: str) -> None:
    retry_after = limiter.take(key)
    if retry_after is not None:
        raise Problem(
            "rate_limited",
            f"too many requests: retry in {retry_after} s",
            headers={"Retry-After": str(retry_after)},
        )


def _unauthenticated(detail: str) -> Problem:
    return Problem("unauthenticated", detail, headers={"WWW-Authenticate": "Bearer"})


def _reporter(door: Door, tracking_id: str, code: str, client: str) -> ReporterCaller:
    try:
        opened = door.access_codes.check(tracking_id, code, door.clock(), client=client)
    except TooManyAttempts as exc:
        seconds = str(exc.retry_after_seconds)
        raise Problem("too_many_attempts", str(exc), headers={"Retry-After": seconds}) from exc
    if not opened:
        raise _unauthenticated("the tracking id and access code do not match")
    try:
        complaint = door.lapor.complaint(tracking_id)
    except DomainError as exc:  # a code was issued, so the complaint exists; be safe anyway
        raise _unauthenticated("the tracking id and access code do not match") from exc
    return ReporterCaller(
        tracking_id=complaint.tracking_id,
        reporter_ref=complaint.reporter_ref,
        complaint_id=complaint.id,
    )


def caller(
    request: Request,
    door: DoorDep,
    limiter: Annotated[RateLimiter, Depends(get_limiter)],
    token: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    tracking_id: Annotated[str | None, Depends(tracking_header)],
    access_code: Annotated[str | None, Depends(code_header)],
) -> Caller:
    """The authenticated caller (401 without valid credentials), rate-limited per caller."""
    who: Caller
    if token is not None:
        principal = door.principals.authenticate(token.credentials, door.clock())
        if principal is None:
            raise _unauthenticated("the token is malformed, unknown, revoked or expired")
        who = principal
        key = f"principal:{principal.id}"
    elif tracking_id and access_code:
        # Wrong codes are limited by the access-code store itself (shared by all processes).
        who = _reporter(door, tracking_id.strip(), access_code, client_address(request))
        key = f"reporter:{who.tracking_id}"
    else:
        raise _unauthenticated(
            "send Authorization: Bearer <token>, or X-Lapor-Tracking-Id and X-Lapor-Access-Code"
        )
    _throttle(limiter, key)
    request.state.caller_kind = str(kind_of(who))
    return who


def public_client(request: Request, limiter: Annotated[RateLimiter, Depends(get_limiter)]) -> str:
    """For the routes anyone may call: rate-limited per client address."""
    address = client_address(request)
    _throttle(limiter, f"address:{address}")
    return address


CallerDep = Annotated[Caller, Depends(caller)]


def principal_with_role(caller: Caller, *roles: PrincipalRole) -> Principal:
    """The caller, if it is a principal with one of `roles`; else 403 (naming the rule)."""
    if isinstance(caller, Principal) and caller.role in roles:
        return caller
    allowed = ", ".join(str(r) for r in roles)
    raise Problem("forbidden", f"only {allowed} may use this route, not a {kind_of(caller)}")
