"""Value types of the complaint domain: the vocabularies commands and events speak.

Events store these as their plain string values (StrEnum members compare equal to
strings), so a stored event never depends on the enum class to be read back.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class ComplaintState(StrEnum):
    SUBMITTED = "SUBMITTED"
    POSTPONED = "POSTPONED"
    FORWARDED = "FORWARDED"
    IN_PROGRESS = "IN_PROGRESS"
    RESPONDED = "RESPONDED"
    RESOLVED = "RESOLVED"
    ARCHIVED = "ARCHIVED"


# The six status buckets LAPOR! publishes, keyed by our states (design.md section 3).
LAPOR_BUCKET: dict[ComplaintState, str] = {
    ComplaintState.SUBMITTED: "Belum Terverifikasi",
    ComplaintState.POSTPONED: "Laporan Tertunda",
    ComplaintState.FORWARDED: "Terdisposisi, Belum Ditindaklanjuti",
    ComplaintState.IN_PROGRESS: "Terdisposisi, Sedang Diproses",
    ComplaintState.RESPONDED: "Terdisposisi, Sedang Diproses",
    ComplaintState.RESOLVED: "Terdisposisi, Selesai",
    ComplaintState.ARCHIVED: "Laporan Arsip",
}


class ComplaintKind(StrEnum):
    COMPLAINT = "complaint"  # pengaduan
    ASPIRATION = "aspiration"  # aspirasi
    INFORMATION_REQUEST = "information_request"  # permintaan informasi


class Channel(StrEnum):
    WEB = "web"
    SMS_1708 = "sms-1708"
    ANDROID = "android"
    IOS = "ios"
    SOCIAL = "social"
    API = "api"


class Visibility(StrEnum):
    PUBLIC = "public"
    ANONYMOUS = "anonymous"  # reporter hidden from all but the national desk
    CONFIDENTIAL = "confidential"  # whole report hidden from the public


class Role(StrEnum):
    REPORTER = "reporter"
    NATIONAL_ADMIN = "national_admin"
    AGENCY_ADMIN = "agency_admin"
    SYSTEM = "system"  # timers: warnings, breaches, escalations, auto-resolution


class ArchiveReason(StrEnum):
    WRONG_FORMAT = "wrong_format"  # kesalahan format
    TOO_GENERAL = "too_general"  # masukan terlalu umum
    NOT_GOVERNMENT = "not_government"  # tidak relevan dengan kinerja pemerintah
    NO_SUPPLEMENT = "no_supplement"  # reporter never supplied the requested information
    SPAM = "spam"
    DUPLICATE = "duplicate"
    OTHER = "other"


class ResponseKind(StrEnum):
    INTERIM = "interim"
    FINAL = "final"


class ReplyKind(StrEnum):
    COMMENT = "comment"  # no change of state
    DISPUTE = "dispute"  # the response does not settle it: back to the agency
    CONFIRM = "confirm"  # the reporter accepts the response: resolved


class ResolutionMode(StrEnum):
    CONFIRMED_BY_REPORTER = "confirmed_by_reporter"
    AUTO_CLOSED = "auto_closed"
    BY_ADMIN = "by_admin"


class EscalationLevel(StrEnum):
    PARENT = "parent"
    NATIONAL = "national"


class AgencyKind(StrEnum):
    NATIONAL_DESK = "national_desk"
    MINISTRY = "ministry"
    INSTITUTION = "institution"
    PROVINCE = "province"
    REGENCY = "regency"
    CITY = "city"
    SOE = "soe"
    UNIVERSITY = "university"
    MISSION = "mission"
    UNIT = "unit"


TOP_LEVEL_AGENCY_KINDS = frozenset(AgencyKind) - {AgencyKind.NATIONAL_DESK, AgencyKind.UNIT}
LOCAL_GOVERNMENT_KINDS = frozenset({AgencyKind.PROVINCE, AgencyKind.REGENCY, AgencyKind.CITY})


@dataclass(frozen=True)
class Actor:
    """Who performs a command. `agency` is the code an agency admin acts for."""

    id: str
    role: Role
    agency: str | None = None


@dataclass(frozen=True)
class AgencyRef:
    """What the complaint needs to know of an agency to route to it."""

    code: str
    parent: str | None
    kind: AgencyKind
