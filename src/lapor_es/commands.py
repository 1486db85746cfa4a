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
    ValidationInfo,
    field_validator,
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


def nul_at(value: Any, path: str = "") -> str | None:
    """Where U+0000 stands in a decoded JSON value ('reporter.name', 'a key in reporter'),
    or None when it holds none."""
    if isinstance(value, str):
        return (path or "the value") if "\x00" in value else None
    items: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        items = list(value.items())
    elif isinstance(value, list):
        items = list(enumerate(value))
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            return f"a key in {path}" if path else "a key"
        if found := nul_at(item, f"{path}.{key}" if path else str(key)):
            return found
    return None


def holds_nul(value: Any) -> bool:
    return nul_at(value) is not None


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def _no_nul(cls, data: Any) -> Any:
        """The store would keep a NUL (events are bytes), but PostgreSQL text cannot hold
        it: the event would stop at every projection. Refused here, for every entry."""
        if isinstance(data, dict) and (where := nul_at(data)):
            raise PydanticCustomError(
                "nul_character",
                "{where} holds a NUL character (U+0000), which no field accepts",
                {"where": where if where.startswith("a key") else f"'{where}'"},
            )
        return data


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


# A handle on each platform LAPOR! takes reports from, as the platform allows it (ASCII
# only, an optional leading '@'). Matched case-insensitively when the pseudonym is derived.
SOCIAL_HANDLE_PATTERNS: dict[str, str] = {
    "twitter": r"^@?[A-Za-z0-9_]{1,15}$",
    "instagram": r"^@?[A-Za-z0-9._]{1,30}$",
    "facebook": r"^@?[A-Za-z0-9.]{5,50}$",
    "tiktok": r"^@?[A-Za-z0-9._]{2,24}$",
    "youtube": r"^@?[A-Za-z0-9._-]{3,30}$",
}
SocialPlatform = Literal["twitter", "instagram", "facebook", "tiktok", "youtube"]


class SocialHandleModel(Strict):
    """The account a social-media report came from, e.g. {"platform": "twitter",
    "handle": "@budi_s"}."""

    platform: SocialPlatform
    handle: Annotated[str, StringConstraints(min_length=1, max_length=51)]

    @model_validator(mode="after")
    def _handle_fits_platform(self) -> SocialHandleModel:
        if not re.fullmatch(SOCIAL_HANDLE_PATTERNS[self.platform], self.handle):
            raise PydanticCustomError(
                "social_handle",
                "handle: not a {platform} handle (rule: {pattern})",
                {"platform": self.platform, "pattern": SOCIAL_HANDLE_PATTERNS[self.platform]},
            )
        return self


Phone = Annotated[str, StringConstraints(pattern=r"^(\+62|62|0)8[1-9][0-9]{6,11}$")]

# Channels whose reporters register with their name (LAPOR!'s web site and apps), which a
# public report shows; the others give what they really have: SMS a phone number, social
# media an account. Nobody invents a name for a reporter who gave none.
NAMED_CHANNELS = frozenset({Channel.WEB, Channel.ANDROID, Channel.IOS})


class IdentityModel(Strict):
    name: Annotated[str, StringConstraints(min_length=2, max_length=200)] | None = Field(
        None, description="required on web, android and ios (see FileComplaint)"
    )
    nik: Annotated[str, StringConstraints(pattern=r"^[0-9]{16}$")] | None = Field(
        None, description="Nomor Induk Kependudukan: 16 digits"
    )
    phone: Phone | None = Field(
        None, description="Indonesian mobile number, e.g. 081234567890 or +6281234567890"
    )
    email: (
        Annotated[str, StringConstraints(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
        | None
    ) = None
    address: Annotated[str, StringConstraints(max_length=500)] | None = None
    social_handle: SocialHandleModel | None = Field(
        None, description="the social-media account a report came from"
    )

    @model_validator(mode="after")
    def _reachable(self) -> IdentityModel:
        if not (self.nik or self.phone or self.email or self.social_handle):
            raise ValueError("a reporter needs at least one of nik, phone, email or social_handle")
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

    @field_validator("reporter")
    @classmethod
    def _identity_fits_channel(cls, who: IdentityModel, info: ValidationInfo) -> IdentityModel:
        """Each channel's identity as the channel really has it (docs/commands.md)."""
        channel = info.data.get("channel")  # absent when the channel itself was invalid
        public = info.data.get("visibility") == Visibility.PUBLIC
        if channel in NAMED_CHANNELS and public and who.name is None:
            _channel_rule(
                "reporter.name",
                f"a public {channel} report shows its reporter's name "
                "(file it anonymous or confidential to give none)",
            )
        if channel == Channel.SMS_1708 and who.phone is None:
            _channel_rule("reporter.phone", "an SMS to 1708 comes from a phone number")
        if channel == Channel.SOCIAL and not (who.social_handle or who.phone or who.email):
            _channel_rule(
                "reporter.social_handle",
                "a social-media report comes from an account (or give a phone or e-mail)",
            )
        return who


def _channel_rule(field: str, rule: str) -> None:
    raise PydanticCustomError(
        "channel_identity", "{field} is required: {rule}", {"field": field, "rule": rule}
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
    """Erase by the pseudonym, or by the phone or social-media account the reporter filed
    with (an SMS or social-media reporter knows nothing else); exactly one of the three."""

    command: Literal["erase_reporter"]
    reporter_ref: Annotated[str, StringConstraints(pattern=r"^rep-[0-9a-f]{32}$")] | None = None
    phone: Phone | None = Field(None, description="the number an SMS reporter filed from")
    social_handle: SocialHandleModel | None = Field(
        None, description="the account a social-media reporter filed from"
    )
    reason: Reason

    @model_validator(mode="after")
    def _one_reporter(self) -> EraseReporter:
        given = [f for f in ("reporter_ref", "phone", "social_handle") if getattr(self, f)]
        if len(given) != 1:
            raise PydanticCustomError(
                "one_reporter",
                "give exactly one of reporter_ref, phone or social_handle (got {given})",
                {"given": ", ".join(given) or "none"},
            )
        return self


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
