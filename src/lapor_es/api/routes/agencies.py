"""The agency directory (public) and an agency's inbox (its own admins, its parents'
admins, the national desk)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from lapor_es.aggregates.values import ComplaintState
from lapor_es.api.deps import CallerDep, DoorDep, principal_with_role, public_client
from lapor_es.api.problems import Problem
from lapor_es.auth.principals import PrincipalRole
from lapor_es.readmodels.desk import NATIONAL_DESK
from lapor_es.readmodels.queries import inbox_page

router = APIRouter(prefix="/v1/agencies", tags=["agencies"])

AgencyCode = Annotated[
    str, Path(pattern=r"^[A-Z0-9][A-Z0-9.-]{1,63}$", description="agency code, e.g. KEMENKES")
]


@router.get("", summary="The agency directory", dependencies=[Depends(public_client)])
def list_agencies(door: DoorDep) -> list[dict[str, Any]]:
    return [
        {"code": a.code, "name": a.name, "kind": a.kind, "parent": a.parent, "region": a.region}
        for a in door.lapor.agencies()
    ]


@router.get("/{code}/inbox", summary="What the agency holds now, with its LAPOR! buckets")
def get_inbox(
    code: AgencyCode,
    door: DoorDep,
    caller: CallerDep,
    units: Annotated[bool, Query(description="include what its units hold")] = True,
    state: Annotated[ComplaintState | None, Query(description="only this state")] = None,
) -> dict[str, Any]:
    principal = principal_with_role(
        caller, PrincipalRole.NATIONAL_ADMIN, PrincipalRole.AGENCY_ADMIN
    )
    if principal.role == PrincipalRole.AGENCY_ADMIN and not (
        principal.agency and door.scope.within(code, principal.agency)
    ):
        raise Problem("forbidden", f"{principal.agency} admins see {principal.agency}'s inboxes")
    if code != NATIONAL_DESK and not door.scope.exists(code):
        raise Problem("not_found", f"no agency {code} in the directory")
    desk = code == NATIONAL_DESK
    with door.read_models.connect() as conn:
        page = inbox_page(
            conn,
            code,
            now=door.clock(),
            calendar=door.lapor.calendar,
            policy=door.lapor.policy,
            top_level=door.scope.top_level() if desk else frozenset(),
            include_units=units,
            state=str(state) if state else None,
        )
    return page.to_json()
