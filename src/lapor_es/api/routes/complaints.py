"""A complaint as its caller may see it, and its public tracking page.

404 and 403 are chosen so that neither leaks a complaint's existence: a role that reads no
complaint views (analyst, channel, system) gets 403 whatever the id; any caller who may not
see this particular complaint (another agency's, another reporter's, a confidential one on
a public view) gets the same 404 as an id that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path

from lapor_es import commands as c
from lapor_es.aggregates import DomainError, NotAuthorized
from lapor_es.api.deps import CallerDep, DoorDep, public_client
from lapor_es.api.problems import Problem
from lapor_es.auth.policy import ReporterCaller, kind_of, viewer_for
from lapor_es.readmodels.queries import public_timeline
from lapor_es.views import agency_names, complaint_view

router = APIRouter(prefix="/v1/complaints", tags=["complaints"])

TrackingId = Annotated[
    str,
    Path(pattern=c.TRACKING_ID_PATTERN, description="tracking id, e.g. LAP-2026-0000123"),
]


def _not_found(tracking_id: str) -> Problem:
    return Problem("not_found", f"no complaint {tracking_id}")


@router.get("/{tracking_id}", summary="A complaint, masked for the caller (as `show --as`)")
def get_complaint(tracking_id: TrackingId, door: DoorDep, caller: CallerDep) -> dict[str, Any]:
    viewer = viewer_for(caller)
    if viewer is None:
        raise Problem("forbidden", f"a {kind_of(caller)} reads no complaint views")
    if isinstance(caller, ReporterCaller) and caller.tracking_id != tracking_id:
        raise _not_found(tracking_id)  # the code opens its own complaint and no other
    try:
        complaint = door.lapor.complaint(tracking_id)
        return complaint_view(door.lapor, complaint, viewer, now=door.clock())
    except NotAuthorized as exc:
        raise _not_found(tracking_id) from exc
    except DomainError as exc:
        if exc.code == "not_found":
            raise _not_found(tracking_id) from exc
        raise


@router.get(
    "/{tracking_id}/timeline",
    summary="The public tracking page: times in WIB, agencies named, the public texts "
    "(no credentials; confidential complaints: 404)",
    dependencies=[Depends(public_client)],
)
def get_timeline(tracking_id: TrackingId, door: DoorDep) -> dict[str, Any]:
    try:
        with door.read_models.connect() as conn:
            return public_timeline(conn, tracking_id, agency_names(door.lapor))
    except DomainError as exc:  # not_found, or not_authorized while confidential
        raise _not_found(tracking_id) from exc
