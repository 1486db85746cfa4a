"""Open311 GeoReport v2 under `/open311/v2`: a FixMyStreet-style client files and follows a
complaint with nothing lapor-es-specific (docs/api.md, "Open311").

- `GET services.json`: the complaint categories (readmodels.open311.SERVICES).
- `POST requests.json` (form-encoded, as the spec): a `channel` principal files. Its token
  comes as the spec's `api_key` (form or query) or as `Authorization: Bearer`. The form is
  turned into the native `file` command and sent down the very path `POST /v1/commands`
  takes (routes.commands.run_command): derived actor and forced channel, validation, the
  engine, metrics, the reporter's access code (returned as the extension `access_code`).
- `GET requests/{id}.json` and `GET requests.json` (the spec's filters): public, no key.

Mapping (design.md section 7): service = category; request = complaint; service_request_id =
tracking id; status open until RESOLVED or ARCHIVED; status_notes = the last response's text;
agency_responsible = the current holder's name (the national desk's while it holds it);
expected_datetime = the running SLA clock's due time (null while paused or stopped).

What the spec sends that the `file` command has no field for is kept where the desk reads
it: lat/long as an RFC 5870 `geo:` URI after the address in `location`, media_url as the
last line of the description; both are taken back apart when the request is read.

Errors are the spec's: a JSON array of `{code, description}`, `code` the HTTP status.
A missing or invalid key is a 403, as the spec has it (the native API answers 401).
Confidential complaints are never shown (404, as an unknown id); the reporter never is.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from lapor_es import commands as c
from lapor_es.aggregates import Complaint, DomainError
from lapor_es.aggregates.values import LAPOR_BUCKET, ComplaintState
from lapor_es.api.deps import DoorDep, client_address, get_limiter
from lapor_es.api.door import DESK, Door
from lapor_es.api.limits import RateLimiter
from lapor_es.api.problems import status_for
from lapor_es.api.routes.commands import run_command
from lapor_es.auth.principals import Principal, PrincipalRole
from lapor_es.readmodels.open311 import (
    CLOSED,
    OPEN,
    SERVICES,
    RequestFilter,
    Service,
    open311_status,
    select_requests,
    service_by_code,
    service_for,
)
from lapor_es.readmodels.timestamps import as_utc
from lapor_es.workflow import JAKARTA

router = APIRouter(prefix="/open311/v2", tags=["open311"])

MAX_RESULTS = 1000  # the spec's suggested cap on one list
DEFAULT_WINDOW = timedelta(days=90)  # the spec's default when no date is given
TRACKING_ID = re.compile(c.TRACKING_ID_PATTERN)
GEO = re.compile(r"(?:^|; )geo:(-?[0-9]+(?:\.[0-9]+)?),(-?[0-9]+(?:\.[0-9]+)?)$")
MEDIA = re.compile(r"\n\nmedia_url: (\S+)$")
TITLE_MAX = 150
DESCRIPTION: TypeAdapter[str] = TypeAdapter(c.Description)
VISIBILITIES = ("public", "anonymous", "confidential")


# ---------------------------------------------------------------- documented shapes
class Open311Error(BaseModel):
    code: int = Field(description="the HTTP status")
    description: str


class ServiceOut(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool = Field(description="always false: no service has extra attributes")
    type: str = Field(description="always realtime: the request id is assigned at once")
    keywords: str = Field(description="comma-separated")
    group: str


class CreatedOut(BaseModel):
    service_request_id: str = Field(description="the tracking id, e.g. LAP-2026-0000123")
    service_notice: str
    account_id: str | None
    access_code: str = Field(
        description="lapor-es extension: the reporter's access code, shown once; with the "
        "tracking id it opens the complaint on the native API (docs/api.md)"
    )


class RequestOut(BaseModel):
    service_request_id: str
    status: str = Field(description="open or closed")
    status_notes: str | None = Field(description="the last response's text")
    service_name: str
    service_code: str
    description: str
    agency_responsible: str = Field(description="the name of the agency holding it now")
    service_notice: str = Field(description="the LAPOR! status bucket")
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None = Field(description="when the running SLA clock is due")
    address: str | None
    address_id: str | None
    zipcode: str | None
    lat: float | None
    long: float | None
    media_url: str | None


class CreateForm(BaseModel):
    """The form of `POST requests.json` (application/x-www-form-urlencoded)."""

    api_key: str | None = Field(None, description="the channel's token (or a Bearer header)")
    jurisdiction_id: str | None = Field(None, description="accepted and ignored")
    service_code: str
    lat: float | None = None
    long: float | None = None
    address_string: str | None = None
    description: str = Field(description="10 characters or more")
    first_name: str | None = None
    last_name: str | None = None
    email: str | None = None
    phone: str | None = Field(None, description="Indonesian mobile, e.g. 081234567890")
    device_id: str | None = None
    account_id: str | None = None
    media_url: str | None = Field(None, description="an http(s) link to a photo")
    attribute_visibility: str | None = Field(
        None,
        alias="attribute[visibility]",
        description="public, anonymous or confidential (default: public with a name, else "
        "anonymous)",
    )


def _errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    return {
        status: {"model": list[Open311Error], "description": "a list of {code, description}"}
        for status in statuses
    }


FORM_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": CreateForm.model_json_schema(by_alias=True)
            }
        },
    }
}
# Declared as the one value served, so the document says what is accepted (a client or a
# fuzzer reading it sends json); anything else still answers the spec's 400 (_json_only).
Format = Annotated[
    str, Path(description="json (xml is not served)", json_schema_extra={"enum": ["json"]})
]
Jurisdiction = Annotated[str | None, Query(description="accepted and ignored")]
IDS = "tracking ids, comma-separated; overrides the other filters"
START = "W3C datetime; without dates, the last 90 days"


# ---------------------------------------------------------------- errors
class Refusal(Exception):
    """An Open311 error answer: the status and what to tell the client."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def refusal_response(refusal: Refusal, headers: dict[str, str] | None = None) -> JSONResponse:
    body = [{"code": refusal.status, "description": refusal.description}]
    return JSONResponse(body, status_code=refusal.status, headers=headers)


def _answer(work: Callable[[], Any], status: int = 200) -> JSONResponse:
    try:
        return JSONResponse(work(), status_code=status)
    except Refusal as refusal:
        return refusal_response(refusal)


def _json_only(format: str) -> None:
    if format != "json":
        raise Refusal(400, f"format {format!r} is not served: only JSON (use .json)")


def _throttle(limiter: RateLimiter, key: str) -> None:
    retry_after = limiter.take(key)
    if retry_after is not None:
        raise Refusal(429, f"too many requests: retry in {retry_after} s")


# ---------------------------------------------------------------- services
def _service_json(service: Service) -> dict[str, Any]:
    return {
        "service_code": service.code,
        "service_name": service.name,
        "description": service.description,
        "metadata": False,
        "type": "realtime",
        "keywords": ",".join(service.keywords),
        "group": service.group,
    }


@router.get(
    "/services.{format}",
    summary="Open311: the services (complaint categories)",
    responses={200: {"model": list[ServiceOut]}, **_errors(400, 429)},
)
def get_services(
    format: Format,
    request: Request,
    limiter: Annotated[RateLimiter, Depends(get_limiter)],
    jurisdiction_id: Jurisdiction = None,
) -> JSONResponse:
    def work() -> list[dict[str, Any]]:
        _json_only(format)
        _throttle(limiter, f"address:{client_address(request)}")
        return [_service_json(s) for s in SERVICES]

    return _answer(work)


# ---------------------------------------------------------------- filing
async def form_fields(request: Request) -> dict[str, str]:
    """The urlencoded form, last value of a repeated field winning; {} for any other body
    (the missing fields are then reported by name)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "application/x-www-form-urlencoded":
        return {}
    body = (await request.body()).decode("utf-8", errors="replace")
    return dict(parse_qsl(body, keep_blank_values=False))


def _channel(door: Door, request: Request, form: dict[str, str]) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, credentials = header.partition(" ")
    token = form.get("api_key") or request.query_params.get("api_key")
    if not token and scheme.lower() == "bearer":
        token = credentials.strip()
    if not token:
        raise Refusal(403, "api_key is required (a channel's token), or Authorization: Bearer")
    principal = door.principals.authenticate(token, door.clock())
    if principal is None:
        raise Refusal(403, "api_key is malformed, unknown, revoked or expired")
    if principal.role != PrincipalRole.CHANNEL:
        raise Refusal(403, f"only a channel files through Open311, not a {principal.role}")
    request.state.caller_kind = str(principal.role)
    return principal


def _number(form: dict[str, str], name: str, low: float, high: float) -> float | None:
    text = form.get(name)
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        raise Refusal(400, f"{name} must be a decimal number, not {text!r}") from None
    if not low <= value <= high:
        raise Refusal(400, f"{name} must be between {low:g} and {high:g}")
    return value


def location_text(form: dict[str, str]) -> str:
    """The complaint's location: the address, then a `geo:` URI for lat/long."""
    lat = _number(form, "lat", -90, 90)
    long = _number(form, "long", -180, 180)
    if (lat is None) != (long is None):
        raise Refusal(400, "lat and long go together")
    address = form.get("address_string", "").strip()
    if lat is None and not address:
        if form.get("address_id"):
            raise Refusal(400, "address_id is not supported: send lat and long, or address_string")
        raise Refusal(400, "a location is required: lat and long, or address_string")
    parts = [address] if address else []
    if lat is not None and long is not None:
        parts.append(f"geo:{lat},{long}")
    return "; ".join(parts)


def split_location(location: str | None) -> tuple[str | None, float | None, float | None]:
    """The address, latitude and longitude `location_text` put into `location`."""
    if not location:
        return None, None, None
    found = GEO.search(location)
    if found is None:
        return location, None, None
    address = location[: found.start()] or None
    return address, float(found.group(1)), float(found.group(2))


def description_text(form: dict[str, str]) -> str:
    """The description, with media_url as its last line. The reporter's own text is held to
    the native rules first: the added line must not make a short one long enough."""
    text = form.get("description", "").strip()
    try:
        DESCRIPTION.validate_python(text)
    except ValidationError as exc:
        raise Refusal(400, f"description: {exc.errors()[0]['msg']}") from None
    media = form.get("media_url", "").strip()
    if media:
        if not re.match(r"^https?://\S+$", media):
            raise Refusal(400, "media_url must be an http(s) URL")
        text += f"\n\nmedia_url: {media}"
    return text


def split_description(description: str) -> tuple[str, str | None]:
    found = MEDIA.search(description)
    if found is None:
        return description, None
    return description[: found.start()], found.group(1)


def title_for(service: Service, description: str) -> str:
    """The `file` command needs a title, Open311 has none: the service and the start of the
    description (the desk writes the real title when it verifies)."""
    first_line = " ".join(description.split("\n", 1)[0].split())
    title = f"{service.name}: {first_line}"
    return title if len(title) <= TITLE_MAX else title[: TITLE_MAX - 1].rstrip() + "…"


def _visibility(form: dict[str, str], named: bool) -> str:
    chosen = form.get("attribute[visibility]")
    unknown = sorted(k for k in form if k.startswith("attribute[") and k != "attribute[visibility]")
    if unknown:
        raise Refusal(400, f"unknown attribute(s) {', '.join(unknown)}: no service has any")
    if chosen is None:
        return "public" if named else "anonymous"
    if chosen not in VISIBILITIES:
        raise Refusal(400, f"attribute[visibility] must be one of {', '.join(VISIBILITIES)}")
    return chosen


def filing_command(form: dict[str, str]) -> dict[str, Any]:
    """The native `file` command for an Open311 form (no actor, no channel: the door
    derives both from the principal)."""
    code = form.get("service_code")
    if not code:
        raise Refusal(400, "service_code is required (see services.json)")
    service = service_by_code(code)
    if service is None:
        raise Refusal(404, f"no service {code!r} (see services.json)")
    if not form.get("description", "").strip():
        raise Refusal(400, "description is required")
    name = " ".join(form.get(k, "").strip() for k in ("first_name", "last_name")).strip()
    # Only what the request carries: a phone-only request files with no name (the channel's
    # rules, commands.FileComplaint, say whether its reporters must give one).
    reporter = {"name": name, "email": form.get("email"), "phone": form.get("phone")}
    description = description_text(form)
    return {
        "command": "file",
        "title": title_for(service, form["description"].strip()),
        "description": description,
        "category": service.name,
        "location": location_text(form),
        "visibility": _visibility(form, named=bool(name)),
        "reporter": {k: v for k, v in reporter.items() if v},
    }


# The native command's fields, named as the Open311 client sent them.
SPEC_FIELD = {
    "title": "description",
    "location": "address_string",
    "reporter.name": "first_name/last_name",
    "reporter.phone": "phone",
    "reporter.email": "email",
    "reporter": "email/phone",
}


def _spec_names(message: str) -> str:
    for native, spec in SPEC_FIELD.items():
        if "." in native:
            message = message.replace(native, spec)
    return message


def _refused_filing(error: dict[str, Any]) -> Refusal:
    details = error.get("details")
    if error["code"] == "validation_error" and isinstance(details, list):
        parts = []
        for d in details:
            if d.get("rule") == "channel_identity":  # the message names the field itself
                parts.append(_spec_names(d["message"]))
                continue
            field = SPEC_FIELD.get(d.get("field") or "", d.get("field"))
            parts.append(f"{field}: {d['message']}" if field else d["message"])
        return Refusal(400, "; ".join(parts))
    return Refusal(status_for(error["code"]), error["message"])


def _service_notice(door: Door, tracking_id: str) -> str:
    complaint = door.lapor.complaint(tracking_id)
    clock = door.lapor.clock_view(complaint, door.clock())
    notice = f"Laporan {tracking_id} diterima"
    if clock is not None and clock.due_at is not None:
        due = clock.due_at.astimezone(JAKARTA)
        notice += f"; diverifikasi sebelum {due:%Y-%m-%d %H:%M} WIB"
    return notice + ". Simpan kode akses untuk mengikuti dan menjawab laporan Anda."


@router.post(
    "/requests.{format}",
    summary="Open311: file a complaint (a channel's api_key)",
    status_code=201,
    openapi_extra=FORM_BODY,
    responses={201: {"model": list[CreatedOut]}, **_errors(400, 403, 404, 409, 429)},
)
def post_request(
    format: Format,
    request: Request,
    door: DoorDep,
    limiter: Annotated[RateLimiter, Depends(get_limiter)],
    form: Annotated[dict[str, str], Depends(form_fields)],
) -> JSONResponse:
    def work() -> list[dict[str, Any]]:
        _json_only(format)
        principal = _channel(door, request, form)
        _throttle(limiter, f"principal:{principal.id}")
        result = run_command(door, principal, 1, filing_command(form))
        if not result["ok"]:
            raise _refused_filing(result["error"])
        tracking_id = result["tracking_id"]
        created = {
            "service_request_id": tracking_id,
            "service_notice": _service_notice(door, tracking_id),
            "account_id": form.get("account_id"),
            "access_code": result["access_code"],
        }
        return [created]

    return _answer(work, status=201)


# ---------------------------------------------------------------- reading
def _agency_name(door: Door, code: str) -> str:
    try:
        return door.lapor.agency(code).name
    except DomainError:
        return code


def _status_notes(door: Door, complaint: Complaint) -> str | None:
    responses = [e for e in door.lapor.history(complaint.id) if isinstance(e, Complaint.Responded)]
    return responses[-1].text if responses else None


def request_json(door: Door, complaint: Complaint, now: datetime) -> dict[str, Any]:
    """One request object (the caller has checked the complaint is not confidential)."""
    service = service_for(complaint.category)
    address, lat, long = split_location(complaint.location)
    description, media_url = split_description(complaint.description)
    clock = door.lapor.clock_view(complaint, now)
    due = clock.due_at if clock is not None and not clock.paused else None
    return {
        "service_request_id": complaint.tracking_id,
        "status": open311_status(complaint.state),
        "status_notes": _status_notes(door, complaint),
        "service_name": service.name,
        "service_code": service.code,
        "description": description,
        "agency_responsible": _agency_name(door, complaint.holder or DESK),
        "service_notice": LAPOR_BUCKET[ComplaintState(complaint.state)],
        "requested_datetime": _w3c(complaint.filed_at),
        "updated_datetime": _w3c(complaint.last_event_at),
        "expected_datetime": _w3c(due) if due is not None else None,
        "address": address,
        "address_id": None,
        "zipcode": None,
        "lat": lat,
        "long": long,
        "media_url": media_url,
    }


def _w3c(at: datetime) -> str:
    return as_utc(at).isoformat()


def _public_complaint(door: Door, tracking_id: str) -> Complaint | None:
    """The complaint, if it exists and the public may see it (not confidential)."""
    try:
        complaint = door.lapor.complaint(tracking_id)
    except DomainError:
        return None
    return None if complaint.visibility == "confidential" else complaint


@router.get(
    "/requests/{service_request_id}.{format}",
    summary="Open311: one request (public; confidential complaints: 404)",
    responses={200: {"model": list[RequestOut]}, **_errors(400, 404, 429)},
)
def get_request(
    service_request_id: Annotated[str, Path(description="the tracking id")],
    format: Format,
    request: Request,
    door: DoorDep,
    limiter: Annotated[RateLimiter, Depends(get_limiter)],
    jurisdiction_id: Jurisdiction = None,
) -> JSONResponse:
    def work() -> list[dict[str, Any]]:
        _json_only(format)
        _throttle(limiter, f"address:{client_address(request)}")
        complaint = None
        if TRACKING_ID.match(service_request_id):
            complaint = _public_complaint(door, service_request_id)
        if complaint is None:
            raise Refusal(404, f"no request {service_request_id}")
        return [request_json(door, complaint, door.clock())]

    return _answer(work)


def parse_w3c(name: str, text: str) -> datetime:
    """A W3C datetime with its offset (a bare date is midnight in Jakarta). A '+' sent
    unencoded in a query string arrives as a space, so a space before the offset is read
    as '+'."""
    text = text.strip()
    if re.match(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$", text):
        return datetime.combine(datetime.fromisoformat(text).date(), time(), JAKARTA)
    candidates = [text]
    if " " in text:
        head, _, tail = text.rpartition(" ")
        candidates.append(f"{head}+{tail}")
    for candidate in candidates:
        try:
            parsed = datetime.fromisoformat(candidate)
        except ValueError:
            continue
        if parsed.tzinfo is not None:
            return parsed
    raise Refusal(400, f"{name} must be a W3C datetime with an offset, e.g. 2026-03-01T00:00:00Z")


def request_filter(params: dict[str, str], now: datetime) -> RequestFilter:
    """The spec's filters: service_request_id (a comma list) overrides the rest; without
    dates, the last 90 days."""
    ids = tuple(i.strip() for i in params.get("service_request_id", "").split(",") if i.strip())
    if ids:
        return RequestFilter(tracking_ids=ids[:MAX_RESULTS], limit=MAX_RESULTS)
    services = []
    for code in _comma_list(params.get("service_code")):
        service = service_by_code(code)
        if service is None:
            raise Refusal(404, f"no service {code!r} (see services.json)")
        services.append(service)
    statuses = frozenset(_comma_list(params.get("status")))
    if not statuses <= {OPEN, CLOSED}:
        raise Refusal(400, "status must be open, closed, or both (comma-separated)")
    start = parse_w3c("start_date", params["start_date"]) if "start_date" in params else None
    end = parse_w3c("end_date", params["end_date"]) if "end_date" in params else None
    if start is not None and end is not None and start > end:
        raise Refusal(400, "start_date is after end_date")
    if start is None:
        start = (end or now) - DEFAULT_WINDOW
    return RequestFilter(
        services=tuple(services), statuses=statuses, start=start, end=end, limit=MAX_RESULTS
    )


def _comma_list(text: str | None) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


def _shown(item: dict[str, Any], wanted: RequestFilter) -> bool:
    """Whether a request read from the store still matches the filters the read model
    chose it by (the read model may lag the store by a moment)."""
    if wanted.tracking_ids:
        return True
    if wanted.statuses and item["status"] not in wanted.statuses:
        return False
    return not wanted.services or item["service_code"] in {s.code for s in wanted.services}


@router.get(
    "/requests.{format}",
    summary="Open311: requests by the spec's filters (public; newest first, at most 1000)",
    responses={200: {"model": list[RequestOut]}, **_errors(400, 404, 429)},
)
def list_requests(
    format: Format,
    request: Request,
    door: DoorDep,
    limiter: Annotated[RateLimiter, Depends(get_limiter)],
    service_request_id: Annotated[str | None, Query(description=IDS)] = None,
    service_code: Annotated[str | None, Query(description="codes, comma-separated")] = None,
    status: Annotated[str | None, Query(description="open, closed (comma-separated)")] = None,
    start_date: Annotated[str | None, Query(description=START)] = None,
    end_date: Annotated[str | None, Query(description="W3C datetime")] = None,
    jurisdiction_id: Jurisdiction = None,
) -> JSONResponse:
    def work() -> list[dict[str, Any]]:
        _json_only(format)
        _throttle(limiter, f"address:{client_address(request)}")
        now = door.clock()
        asked = {
            "service_request_id": service_request_id,
            "service_code": service_code,
            "status": status,
            "start_date": start_date,
            "end_date": end_date,
        }
        wanted = request_filter({k: v for k, v in asked.items() if v is not None}, now)
        with door.read_models.connect() as conn:
            chosen = select_requests(conn, wanted, calendar=door.lapor.calendar)
        items = []
        for tracking_id in chosen:
            complaint = _public_complaint(door, tracking_id)
            if complaint is not None:
                item = request_json(door, complaint, now)
                if _shown(item, wanted):
                    items.append(item)
        return items

    return _answer(work)
