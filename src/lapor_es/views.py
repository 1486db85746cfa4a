"""Read-side views of one complaint, masked for whoever is looking.

Visibility rules (design.md section 3):
- public: the report and the reporter's name are public; contact details never are.
- anonymous: the report is public, the reporter is hidden from all but the national desk.
- confidential: the whole report is hidden from the public.
The reporter always sees their own identity; an erased identity shows as "[erased]".
A reporter may have no name (an SMS to 1708 carries a phone number, a social-media report an
account): the public then sees no name, and those who may see the identity see it as the
channel gave it, with `shown_as` naming the reporter by what there is.

Times are shown in WIB (ISO 8601 with +07:00), agencies by code and name. The public sees
only the public texts of the history (aggregates.disclosure), never the staff's notes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime
from functools import cache
from typing import Any

from lapor_es.aggregates import Complaint, DomainError, NotAuthorized, Role
from lapor_es.aggregates.chain import PRIVATE_FIELDS, STORE_FIELDS
from lapor_es.aggregates.disclosure import INTERNAL_TEXT_FIELDS, PUBLIC_TEXT_FIELDS, shows_text
from lapor_es.aggregates.values import LAPOR_BUCKET, ComplaintState, Visibility
from lapor_es.application import LaporApp
from lapor_es.privacy import ERASED, ReporterIdentity
from lapor_es.workflow import JAKARTA

ANONYMOUS_NAME = "Anonim"
# Shown in the entry's header, kept in the store only, or personal data.
HIDDEN_EVENT_FIELDS = (
    STORE_FIELDS | PRIVATE_FIELDS | {"actor_id", "role", "actor_agency", "at", "tracking_id"}
)


@dataclass(frozen=True)
class Viewer:
    """Who is looking: `public`, `national`, `agency:CODE` or `reporter:REF`."""

    kind: str
    ref: str | None = None

    @classmethod
    def parse(cls, text: str) -> Viewer:
        kind, _, ref = text.partition(":")
        if kind not in ("public", "national", "agency", "reporter"):
            raise ValueError(
                f"unknown viewer {text!r}: use public, national, agency:CODE or reporter:REF"
            )
        if kind in ("agency", "reporter") and not ref:
            raise ValueError(f"viewer {kind} needs a code or reference, e.g. {kind}:X")
        return cls(kind, ref or None)


def may_see_identity(viewer: Viewer, complaint: Complaint) -> bool:
    if viewer.kind == "national":
        return True
    if viewer.kind == "reporter":
        return viewer.ref == complaint.reporter_ref
    if viewer.kind == "agency":
        return complaint.visibility != Visibility.ANONYMOUS
    return False


def check_access(viewer: Viewer, complaint: Complaint) -> None:
    if viewer.kind == "agency" and viewer.ref not in complaint.holder_chain:
        # The holder and the agencies above it on the path; one that declined it or had it
        # taken away no longer sees it (its own actions stay in its own records).
        raise NotAuthorized(
            f"{viewer.ref} does not hold complaint {complaint.tracking_id}", agency=viewer.ref
        )
    if viewer.kind == "reporter" and viewer.ref != complaint.reporter_ref:
        raise NotAuthorized("this is not your complaint")
    if viewer.kind == "public" and complaint.visibility == Visibility.CONFIDENTIAL:
        raise NotAuthorized(f"complaint {complaint.tracking_id} is confidential")


def reporter_view(app: LaporApp, complaint: Complaint, viewer: Viewer) -> dict[str, Any]:
    if complaint.identity_erased:
        return {"name": ERASED, "erased": True}
    if complaint.visibility == Visibility.ANONYMOUS and not may_see_identity(viewer, complaint):
        return {"name": ANONYMOUS_NAME}
    identity = app.identity(complaint)
    if identity is None:
        return {"name": ERASED, "erased": True}
    if not may_see_identity(viewer, complaint):
        # A public report shows the name (None when the channel gave none), never contacts:
        # a phone number or a social-media account identifies as surely as a NIK.
        return {"name": identity.name}
    return identity.model_dump(exclude_none=True) | {
        "reporter_ref": complaint.reporter_ref,
        "shown_as": shown_as(identity),
    }


def shown_as(identity: ReporterIdentity) -> str:
    """The reporter in one line for staff: the name, else the account or phone the report
    came from (what an agency answering an SMS or a tweet needs to recognise it)."""
    if identity.name:
        return identity.name
    if identity.social_handle is not None:
        account = identity.social_handle
        return f"@{account.handle.lstrip('@')} ({account.platform})"
    return identity.phone or identity.email or identity.nik or "-"


def agency_names(app: LaporApp) -> Callable[[str], str | None]:
    """An agency code's name in the directory (None for an unknown code), each code read
    once: make one per page."""

    @cache
    def name_of(code: str) -> str | None:
        try:
            return app.agency(code).name
        except DomainError:
            return None

    return name_of


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(JAKARTA).isoformat()  # WIB, +07:00
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)


def event_view(
    event: Complaint.Event,
    complaint: Complaint,
    viewer: Viewer,
    name_of: Callable[[str], str | None] | None = None,
) -> dict[str, Any]:
    by_reporter = event.role == Role.REPORTER
    show_actor = not by_reporter or may_see_identity(viewer, complaint)
    entry: dict[str, Any] = {
        "version": event.originator_version,
        "event": type(event).__name__,
        "at": _jsonable(event.at),
        "role": event.role,
        "agency": event.actor_agency,
        "agency_name": name_of(event.actor_agency) if name_of and event.actor_agency else None,
        "actor": event.actor_id if show_actor and viewer.kind != "public" else None,
        "event_hash": event.event_hash,
    }
    hidden = HIDDEN_EVENT_FIELDS | _texts_hidden_from(viewer, event, complaint)
    details = {k: _jsonable(v) for k, v in vars(event).items() if k not in hidden}
    return entry | {"details": details}


def _texts_hidden_from(viewer: Viewer, event: Complaint.Event, complaint: Complaint) -> set[str]:
    """The event's free-text fields this viewer may not read: for the public, the staff's
    notes, and the public text too where aggregates.disclosure withholds it."""
    if viewer.kind != "public":
        return set()
    kind = type(event).__name__
    hidden = set(INTERNAL_TEXT_FIELDS.get(kind, ()))
    shown = shows_text(
        confidential=complaint.visibility == Visibility.CONFIDENTIAL,
        reporter_erased=complaint.identity_erased,
        by_reporter=event.role == Role.REPORTER,
    )
    if kind in PUBLIC_TEXT_FIELDS and not shown:
        hidden.add(PUBLIC_TEXT_FIELDS[kind])
    return hidden


def complaint_view(
    app: LaporApp, complaint: Complaint, viewer: Viewer, *, now: datetime | None = None
) -> dict[str, Any]:
    check_access(viewer, complaint)
    clock = app.clock_view(complaint, now)
    name_of = agency_names(app)
    return {
        "complaint_id": str(complaint.id),
        "tracking_id": complaint.tracking_id,
        "version": complaint.version,
        "state": str(complaint.state),
        "bucket": LAPOR_BUCKET[ComplaintState(complaint.state)],
        "kind": complaint.kind,
        "channel": complaint.channel,
        "title": complaint.title,
        "description": complaint.description,
        "category": complaint.category,
        "location": complaint.location,
        "visibility": complaint.visibility,
        "verified": complaint.verified,
        "reporter": reporter_view(app, complaint, viewer),
        "filed_at": _jsonable(complaint.filed_at),
        "holder": complaint.holder,
        "holder_name": name_of(complaint.holder) if complaint.holder else None,
        "holder_chain": list(complaint.holder_chain),
        "forwarding_path": list(complaint.forwarding_path),
        "first_response_at": _jsonable(complaint.first_response_at),
        "final_response_at": _jsonable(complaint.final_response_at),
        "resolved_at": _jsonable(complaint.resolved_at),
        "resolution_mode": complaint.resolution_mode,
        "reopen_count": complaint.reopen_count,
        "archive_reason": complaint.archive_reason,
        "merged_into": complaint.merged_into,
        "sla": _jsonable(asdict(clock)) if clock else None,
        "history": [event_view(e, complaint, viewer, name_of) for e in app.history(complaint.id)],
    }
