"""A complaint's state as a read model sees it: the state machine replayed from payloads.

Read models only see one published event at a time, so they keep the previous state in
their own tables and step it with `state_after`. The transitions mirror the `apply` methods
of `aggregates/complaint.py`; events that leave the state alone return it unchanged.
"""

from __future__ import annotations

from lapor_es.aggregates.values import LAPOR_BUCKET, ComplaintState
from lapor_es.contract.payloads import (
    AnyPayload,
    Archived,
    Filed,
    Forwarded,
    ForwardingDeclined,
    InformationSupplemented,
    Merged,
    Postponed,
    Reopened,
    ReporterReplied,
    Resolved,
    Responded,
    WorkStarted,
)

S = ComplaintState


def state_after(previous: ComplaintState | None, payload: AnyPayload) -> ComplaintState:
    """The complaint's state once `payload` has happened (previous is None before Filed)."""
    match payload:
        case Filed() | InformationSupplemented():
            return S.SUBMITTED
        case Postponed():
            return S.POSTPONED
        case Archived() | Merged():
            return S.ARCHIVED
        case Forwarded():
            return S.FORWARDED
        case ForwardingDeclined():
            return S.SUBMITTED if payload.returned_to is None else S.FORWARDED
        case WorkStarted() | Reopened():
            return S.IN_PROGRESS
        case Responded():
            return S.RESPONDED if payload.kind == "final" else S.IN_PROGRESS
        case ReporterReplied() if payload.kind == "dispute":
            return S.IN_PROGRESS
        case Resolved():
            return S.RESOLVED
    if previous is None:
        raise ValueError(f"{payload.type} (version {payload.version}) before the complaint's Filed")
    return previous


def bucket(state: ComplaintState) -> str:
    """The LAPOR! status bucket of a state."""
    return LAPOR_BUCKET[state]
