"""The national desk's work queue (national_admin only)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from lapor_es.api.deps import CallerDep, DoorDep, principal_with_role
from lapor_es.auth.principals import PrincipalRole
from lapor_es.readmodels.queries import desk_page

router = APIRouter(prefix="/v1/desk", tags=["desk"])


@router.get(
    "/queue",
    summary="Unverified, postponed (with time waited) and escalated-to-the-desk complaints, "
    "most urgent first",
)
def get_queue(door: DoorDep, caller: CallerDep) -> dict[str, Any]:
    principal_with_role(caller, PrincipalRole.NATIONAL_ADMIN)
    with door.read_models.connect() as conn:
        page = desk_page(
            conn,
            now=door.clock(),
            calendar=door.lapor.calendar,
            policy=door.lapor.policy,
            top_level=door.scope.top_level(),
        )
    return page.to_json()
