"""A complaint's state and holder chain as a consumer sees them, replayed from payloads.

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


def chain_after(chain: tuple[str, ...], payload: AnyPayload) -> tuple[str, ...]:
    """The holder chain once `payload` has happened.

    Raises ValueError when the event does not fit the chain (an event is missing): the
    projector parks it rather than show a wrong holder.
    """
    if isinstance(payload, Forwarded):
        if payload.from_agency is None:  # the desk disposes it afresh
            return (payload.to_agency,)
        if payload.from_agency not in chain:
            raise ValueError(
                f"{payload.from_agency} forwarded {payload.tracking_id} "
                f"but is not on its holder chain {list(chain)}"
            )
        keep = chain.index(payload.from_agency) + 1
        return (*chain[:keep], payload.to_agency)
    if isinstance(payload, ForwardingDeclined):
        if not chain or chain[-1] != payload.agency:
            raise ValueError(
                f"{payload.agency} declined {payload.tracking_id} "
                f"but does not hold it (holder chain {list(chain)})"
            )
        rest = chain[:-1]
        if (rest[-1] if rest else None) != payload.returned_to:
            raise ValueError(
                f"decline of {payload.tracking_id} returned it to {payload.returned_to}, "
                f"expected {rest[-1] if rest else None}"
            )
        return rest
    return chain


def bucket(state: ComplaintState) -> str:
    """The LAPOR! status bucket of a state."""
    return LAPOR_BUCKET[state]
