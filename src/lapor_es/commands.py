"""The command language: one pydantic model per command, a union discriminated on "command".

Everything a command carries is validated here, before anything is stored. The limits
are documented in docs/commands.md; they follow LAPOR! and Open311 where those say.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    TypeAdapter,
    model_validator,
)
from pydantic_core import PydanticCustomError

from lapor_es.aggregates.values import (
    AgencyKind,
    ArchiveReason,
    Channel,
    ComplaintKind,
    EscalationLevel,
    ReplyKind,
    ResolutionMode,
    ResponseKind,
    Role,
    Visibility,
)

MAX_TEXT = 4_000  # Open311's limit for a request's description
CLOCK_SKEW = timedelta(minutes=5)
EARLIEST = datetime(2011, 1, 1, tzinfo=UTC)  # LAPOR! began in 2011

# Digits are written [0-9], never \d: pydantic's patterns are Unicode-aware, and \d would take
# Arabic-Indic or full-width digits, giving one NIK or phone number a second pseudonym.
ISO_8601 = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}(\.[0-9]+)?)?"
    r"([Zz]|[+-][0-9]{2}:?[0-9]{2})?"
)

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]
Description = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=10, max_length=MAX_TEXT)
]
Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=150)]
Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=3, max_length=1_000)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=1_000)]
Category = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=100)]
AgencyCode = Annotated[
    str, StringConstraints(strip_whitespace=True, pattern=r"^[A-Z0-9][A-Z0-9.-]{1,63}$")
]
# A tracking id: ASCII digits only (a regex `\d` also takes Arabic-Indic and full-width digits).
TRACKING_ID_BODY = "LAP-[0-9]{4}-[0-9]{7}"
TRACKING_ID_PATTERN = f"^{TRACKING_ID_BODY}$"

ComplaintRef = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        pattern=r"^(" + TRACKING_ID_BODY + "|[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
        r"[0-9a-fA-F]{4}-?[0-9a-fA-F]{12})$",
    ),
    Field(description="tracking id (LAP-2026-0000123) or complaint UUID"),
]
IdempotencyKeyStr = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=8, max_length=128)
]


def _iso_8601_text(value: object) -> object:
    """A time arrives as ISO 8601 text (or, from Python, a datetime). Left alone, pydantic
    also reads epoch seconds (1772413200, "1772413200") and booleans as times. A missing
    offset is left to AwareDatetime, which names it (timezone_aware)."""
    if isinstance(value, datetime) or (isinstance(value, str) and ISO_8601.fullmatch(value)):
        return value
    raise PydanticCustomError(
        "datetime_iso_8601",
        "Input should be an ISO 8601 date-time string with a time zone offset, "
        "e.g. 2026-03-02T09:00:00+07:00",
    )


Time = Annotated[AwareDatetime, BeforeValidator(_iso_8601_text)]


def _not_future(value: datetime) -> datetime:
    if value > datetime.now(UTC) + CLOCK_SKEW:
        raise ValueError("must not be in the future")
    if value < EARLIEST:
        raise ValueError("must not be before 2011-01-01")
    return value


BusinessTime = Annotated[Time, AfterValidator(_not_future)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ActorModel(Strict):
    id: Annotated[str, StringConstraints(min_length=1, max_length=128)]
    role: Role
    agency: AgencyCode | None = None

    @model_validator(mode="after")
    def _agency_matches_role(self) -> ActorModel:
        if self.role == Role.AGENCY_ADMIN and not self.agency:
            raise ValueError("an agency_admin actor needs 'agency' (the code it acts for)")
        if self.role != Role.AGENCY_ADMIN and self.agency:
            raise ValueError(f"a {self.role} actor acts for no agency; drop 'agency'")
        return self


class IdentityModel(Strict):
    name: Annotated[str, StringConstraints(min_length=2, max_length=200)]
    nik: Annotated[str, StringConstraints(pattern=r"^[0-9]{16}$")] | None = Field(
        None, description="Nomor Induk Kependudukan: 16 digits"
    )
    phone: Annotated[str, StringConstraints(pattern=r"^(\+62|62|0)8[1-9][0-9]{6,11}$")] | None = (
        Field(None, description="Indonesian mobile number, e.g. 081234567890 or +6281234567890")
    )
    email: (
        Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
        | None
    ) = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None

    @model_validator(mode="after")
    def _reachable(self) -> IdentityModel:
        if not (self.nik or self.phone or self.email):
            raise ValueError("a reporter needs at least one of nik, phone or email")
        return self


class Base(Strict):
    command: str
    actor: ActorModel
    at: BusinessTime | None = Field(
        None, description="when it happened (timezone-aware); defaults to now"
    )
    request_id: Annotated[str, StringConstraints(max_length=128)] | None = Field(
        None, description="echoed back in the result, to match results to requests"
    )


class OnComplaint(Base):
    complaint: ComplaintRef
    # Strict: JSON's true, 1.0 and "1" are not versions.
    expected_version: StrictInt | None = Field(
        None, ge=1, description="refuse with 'conflict' unless the complaint is at this version"
    )


class FileComplaint(Base):
    command: Literal["file"]
    kind: ComplaintKind = ComplaintKind.COMPLAINT
    channel: Channel
    title: Title
    description: Description
    category: Category | None = None
    location: Annotated[str, StringConstraints(max_length=300)] | None = None
    visibility: Visibility = Visibility.PUBLIC
    target_agency: AgencyCode | None = Field(None, description="the agency the reporter chose")
    reporter: IdentityModel
    idempotency_key: IdempotencyKeyStr | None = Field(
        None, description="a retried filing with the same key returns the first complaint"
    )


class Verify(OnComplaint):
    command: Literal["verify"]
    title: Title
    category: Category
    kind: ComplaintKind
    visibility: Visibility
    visibility_reason: Reason | None = Field(
        None, description="why the visibility is lowered (required to lower it)"
    )
    to_agency: AgencyCode | None = Field(
        None,
        description="the agency it goes to; defaults to the agency the reporter chose "
        "(required when the reporter chose none)",
    )
    override_reason: Reason | None = Field(
        None,
        description="why it goes elsewhere than the agency the reporter chose (required then)",
    )
    note: Note = ""


class Postpone(OnComplaint):
    command: Literal["postpone"]
    reason: Reason


class Supplement(OnComplaint):
    command: Literal["supplement"]
    text: Text


class Archive(OnComplaint):
    command: Literal["archive"]
    reason: ArchiveReason
    note: Note = ""


class Forward(OnComplaint):
    command: Literal["forward"]
    to_agency: AgencyCode
    note: Note = ""


class Decline(OnComplaint):
    command: Literal["decline"]
    reason: Reason
    suggested_agency: AgencyCode | None = None


class StartWork(OnComplaint):
    command: Literal["start"]


class Respond(OnComplaint):
    command: Literal["respond"]
    kind: ResponseKind
    text: Text


class Reply(OnComplaint):
    command: Literal["reply"]
    kind: ReplyKind
    text: Text


class Resolve(OnComplaint):
    command: Literal["resolve"]
    mode: ResolutionMode
    note: Note = ""


class Reopen(OnComplaint):
    command: Literal["reopen"]
    reason: Reason


class Merge(OnComplaint):
    """Close `complaint` as a duplicate of `into` (the original), which records the merge.
    `expected_version` is the duplicate's."""

    command: Literal["merge"]
    into: ComplaintRef


class ChangeVisibility(OnComplaint):
    command: Literal["change_visibility"]
    visibility: Visibility
    reason: Reason


class WarnSla(OnComplaint):
    command: Literal["warn_sla"]
    clock: Literal["verification", "follow_up", "auto_resolve"]
    due_at: Time


class BreachSla(OnComplaint):
    command: Literal["breach_sla"]
    clock: Literal["verification", "follow_up", "auto_resolve"]
    due_at: Time


class Escalate(OnComplaint):
    command: Literal["escalate"]
    level: EscalationLevel
    clock: Literal["verification", "follow_up", "auto_resolve"]
    due_at: Time


class RegisterAgency(Base):
    command: Literal["register_agency"]
    code: AgencyCode
    name: Annotated[str, StringConstraints(min_length=2, max_length=200)]
    kind: AgencyKind
    parent: AgencyCode | None = None
    region: AgencyCode | None = None


class EraseReporter(Base):
    command: Literal["erase_reporter"]
    reporter_ref: Annotated[str, StringConstraints(pattern=r"^rep-[0-9a-f]{32}$")]
    reason: Reason


Command = Annotated[
    FileComplaint
    | Verify
    | Postpone
    | Supplement
    | Archive
    | Forward
    | Decline
    | StartWork
    | Respond
    | Reply
    | Resolve
    | Reopen
    | Merge
    | ChangeVisibility
    | WarnSla
    | BreachSla
    | Escalate
    | RegisterAgency
    | EraseReporter,
    Field(discriminator="command"),
]
COMMAND_ADAPTER: TypeAdapter[Command] = TypeAdapter(Command)

COMMAND_NAMES = tuple(
    get_args(model.model_fields["command"].annotation)[0]
    for model in (
        FileComplaint,
        Verify,
        Postpone,
        Supplement,
        Archive,
        Forward,
        Decline,
        StartWork,
        Respond,
        Reply,
        Resolve,
        Reopen,
        Merge,
        ChangeVisibility,
        WarnSla,
        BreachSla,
        Escalate,
        RegisterAgency,
        EraseReporter,
    )
)


def parse_command(data: str | bytes | dict[str, Any]) -> Command:
    """Validate one command (a JSON document or an already-decoded dict)."""
    if isinstance(data, dict):
        return COMMAND_ADAPTER.validate_python(data)
    return COMMAND_ADAPTER.validate_json(data)


class Outcome(Strict):
    """What a successful command produced."""

    command: str
    complaint_id: str | None = None
    tracking_id: str | None = None
    version: int | None = None
    state: str | None = None
    reporter_ref: str | None = None
    duplicate: bool | None = Field(
        None, description="true when an idempotent retry returned an earlier result"
    )
    agency: str | None = None
    affected: int | None = None


class ErrorModel(Strict):
    code: str
    message: str
    details: Any = None
