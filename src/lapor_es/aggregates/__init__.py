"""The domain: aggregates, their events and rules. No I/O; nothing of ours but itself."""

from lapor_es.aggregates.agency import Agency, agency_id_for, check_placement
from lapor_es.aggregates.complaint import Complaint, complaint_id_for
from lapor_es.aggregates.errors import (
    AlreadyRecorded,
    DomainError,
    InvalidTransition,
    NotAuthorized,
    RuleViolation,
    UnknownAgency,
)
from lapor_es.aggregates.registry import IdempotencyKey, TrackingSequence
from lapor_es.aggregates.reporter import Reporter, reporter_id_for
from lapor_es.aggregates.values import (
    Actor,
    AgencyKind,
    AgencyRef,
    ArchiveReason,
    Channel,
    ComplaintKind,
    ComplaintState,
    EscalationLevel,
    ReplyKind,
    ResolutionMode,
    ResponseKind,
    Role,
    Visibility,
)

__all__ = [
    "Actor",
    "Agency",
    "AgencyKind",
    "AgencyRef",
    "AlreadyRecorded",
    "ArchiveReason",
    "Channel",
    "Complaint",
    "ComplaintKind",
    "ComplaintState",
    "DomainError",
    "EscalationLevel",
    "IdempotencyKey",
    "InvalidTransition",
    "NotAuthorized",
    "ReplyKind",
    "Reporter",
    "ResolutionMode",
    "ResponseKind",
    "Role",
    "RuleViolation",
    "TrackingSequence",
    "UnknownAgency",
    "Visibility",
    "agency_id_for",
    "check_placement",
    "complaint_id_for",
    "reporter_id_for",
]
