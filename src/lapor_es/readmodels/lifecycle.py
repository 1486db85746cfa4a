"""A complaint's lifecycle as a consumer sees it, replayed from payloads: its state, its
holder chain and its SLA clock. The one place on the read side that knows these rules.

Read models only see one published event at a time, so they keep the previous value in
their own tables and step it with `state_after`, `chain_after` and `clock_after`. The
transitions mirror the `apply` methods of `aggregates/complaint.py`; an event that leaves a
value alone returns it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from lapor_es.aggregates.values import LAPOR_BUCKET, ComplaintState
from lapor_es.contract.payloads import (
    Archived,
    EventPayload,
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
from lapor_es.workflow import ClockKind

S = ComplaintState


def state_after(previous: ComplaintState | None, payload: EventPayload) -> ComplaintState:
    """The complaint's state once `payload` has happened (previous is None before Filed)."""
    match payload:
        case Filed() | InformationSupplemented():
            return S.SUBMITTED
        case Postponed():
            return S.POSTPONED
        case Archived() | Merged():
            return S.ARCHIVED
        case Forwarded():
            # An agency passing work in hand down to its unit keeps it IN_PROGRESS.
            return S.IN_PROGRESS if payload.work_continues else S.FORWARDED
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


def chain_after(chain: tuple[str, ...], payload: EventPayload) -> tuple[str, ...]:
    """The holder chain once `payload` has happened.

    Raises ValueError when the event does not fit the chain (an event is missing): the
    projector parks it rather than show a wrong holder.
    """
    if isinstance(payload, Archived | Merged):
        return ()  # closed by the desk: a duplicate merged after forwarding leaves its agency
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


# ----------------------------------------------------------------------- the SLA clock
@dataclass(frozen=True)
class ClockRun:
    """The complaint's SLA clock once an event has happened.

    `kind` None: no clock runs. `due_at` None with a kind: the clock is paused (POSTPONED).
    `started`: the event started a new run of the clock (or restarted it); the run's start
    time is the event's time and the ladder's marks of the previous run no longer count.
    """

    kind: ClockKind | None
    due_at: datetime | None
    started: bool = False


NO_CLOCK = ClockRun(None, None)


def _start(kind: ClockKind | None, due_at: datetime | None) -> ClockRun:
    # Every clock-starting event of a valid history carries its due time; one without it
    # cannot be timed, so no clock is shown running.
    return ClockRun(kind, due_at, started=True) if due_at is not None else NO_CLOCK


def clock_after(kind: ClockKind | None, due_at: datetime | None, payload: EventPayload) -> ClockRun:
    """The clock once `payload` has happened, from the clock before it (`kind`, `due_at`).

    Mirrors the aggregate's `start_clock` / `stop_clock` bookkeeping."""
    match payload:
        case Filed() | InformationSupplemented():
            return _start(ClockKind.VERIFICATION, payload.verification_due_at)
        case Postponed():
            return ClockRun(kind, None)  # paused until the reporter supplements
        case Archived() | Merged() | Resolved():
            return NO_CLOCK
        case Forwarded() | Reopened():
            return _start(ClockKind.FOLLOW_UP, payload.follow_up_due_at)
        case ForwardingDeclined() if payload.returned_to is None:  # back to the desk
            return _start(ClockKind.VERIFICATION, payload.verification_due_at)
        case Responded() if payload.kind == "final":  # the reporter's reply window
            return _start(ClockKind.AUTO_RESOLVE, payload.auto_resolve_due_at)
        case Responded():  # an interim response is the follow-up the clock asked for
            return _start(ClockKind.FOLLOW_UP, payload.follow_up_due_at)
        case ReporterReplied() if payload.follow_up_due_at is not None:  # a dispute
            return _start(ClockKind.FOLLOW_UP, payload.follow_up_due_at)
        case ReporterReplied() if payload.auto_resolve_due_at is not None:
            return _start(kind, payload.auto_resolve_due_at)  # a comment restarts the window
    # Any other event leaves the clock alone; so does a decline back to the parent agency,
    # whose follow-up clock keeps running.
    return ClockRun(kind, due_at)
