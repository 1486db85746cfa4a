"""What the agency inbox remembers of one complaint between events, and how each event
changes it. Pure: no I/O, so the holder-chain reconstruction is unit-tested on its own.

The published events never carry the holder chain or the clock itself, only their moves,
so the state, the chain and the clock are stepped by the shared rules of `lifecycle.py`;
this module adds what only the inbox keeps (holdings, last action, reply pending, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from lapor_es.aggregates.values import ComplaintState
from lapor_es.contract.payloads import (
    AnyPayload,
    Filed,
    Reopened,
    ReporterErased,
    ReporterReplied,
    Resolved,
    Responded,
    Verified,
    VisibilityChanged,
)
from lapor_es.readmodels.lifecycle import chain_after, clock_after, state_after
from lapor_es.readmodels.timestamps import as_utc
from lapor_es.workflow import ClockKind

S = ComplaintState

# An agency keeps a complaint in its inbox while it has work or a decision pending on it.
# RESPONDED stays: during the reporter's reply window the agency still owns it (a dispute
# comes straight back to it). RESOLVED leaves (a reopen brings it back), and SUBMITTED /
# POSTPONED / ARCHIVED never have a holder chain.
INBOX_STATES = frozenset({S.FORWARDED, S.IN_PROGRESS, S.RESPONDED})

# Shown instead of the reporter. The topic never carries identity, so the inbox can only say
# how staff may see it; the names match views.py (which would pull the application in).
ANONYMOUS_DISPLAY = "Anonim"
CONFIDENTIAL_DISPLAY = "Rahasia"
ERASED_DISPLAY = "[erased]"


def reporter_display(visibility: str, *, erased: bool, tracking_id: str, agency: str) -> str:
    """The inbox's reporter column for one agency (see docs/data-dictionary.md)."""
    if erased:
        return ERASED_DISPLAY
    if visibility == "anonymous":
        return ANONYMOUS_DISPLAY
    if visibility == "confidential":
        return CONFIDENTIAL_DISPLAY
    return f"lapor-es show {tracking_id} --as agency:{agency}"


@dataclass(frozen=True)
class Holding:
    """One agency's tenure on the complaint's holder chain."""

    agency: str
    first_at: datetime  # first time it entered the chain
    released_at: datetime | None  # left the chain (declined, re-forwarded); None: holds it


@dataclass(frozen=True)
class InboxState:
    complaint_id: str
    tracking_id: str
    version: int
    filed_at: datetime
    title: str
    kind: str
    category: str | None
    channel: str
    visibility: str
    state: ComplaintState
    chain: tuple[str, ...]  # top-level agency first, the holder last
    holdings: tuple[Holding, ...]  # every agency ever on the chain, in order of arrival
    clock: str | None
    due_at: datetime | None
    last_action: str
    last_action_at: datetime
    last_actor_role: str
    reopen_count: int
    reply_pending: bool  # reporter commented or disputed since the last agency response
    erased: bool

    @property
    def holder(self) -> str | None:
        return self.chain[-1] if self.chain else None

    @property
    def forwarding_path(self) -> str:
        return " > ".join(self.chain)

    def inbox_agencies(self) -> list[tuple[str, bool]]:
        """(agency, held_directly) for every agency whose inbox shows the complaint now."""
        if self.state not in INBOX_STATES:
            return []
        return [(agency, i == len(self.chain) - 1) for i, agency in enumerate(self.chain)]

    def to_record(self) -> dict[str, Any]:
        """Column values of the helper table (chain and holdings as JSON-able lists)."""
        return {
            "complaint_id": self.complaint_id,
            "tracking_id": self.tracking_id,
            "version": self.version,
            "filed_at": self.filed_at,
            "title": self.title,
            "kind": self.kind,
            "category": self.category,
            "channel": self.channel,
            "visibility": self.visibility,
            "state": str(self.state),
            "chain": list(self.chain),
            "holdings": [
                {
                    "agency": h.agency,
                    "first_at": h.first_at.isoformat(),
                    "released_at": h.released_at.isoformat() if h.released_at else None,
                }
                for h in self.holdings
            ],
            "clock": self.clock,
            "due_at": self.due_at,
            "last_action": self.last_action,
            "last_action_at": self.last_action_at,
            "last_actor_role": self.last_actor_role,
            "reopen_count": self.reopen_count,
            "reply_pending": self.reply_pending,
            "erased": self.erased,
        }

    @classmethod
    def from_record(cls, row: Any) -> InboxState:
        return cls(
            complaint_id=row["complaint_id"],
            tracking_id=row["tracking_id"],
            version=row["version"],
            filed_at=as_utc(row["filed_at"]),
            title=row["title"],
            kind=row["kind"],
            category=row["category"],
            channel=row["channel"],
            visibility=row["visibility"],
            state=S(row["state"]),
            chain=tuple(row["chain"]),
            holdings=tuple(
                Holding(
                    agency=h["agency"],
                    first_at=as_utc(datetime.fromisoformat(h["first_at"])),
                    released_at=(
                        as_utc(datetime.fromisoformat(h["released_at"]))
                        if h["released_at"]
                        else None
                    ),
                )
                for h in row["holdings"]
            ),
            clock=row["clock"],
            due_at=as_utc(row["due_at"]) if row["due_at"] is not None else None,
            last_action=row["last_action"],
            last_action_at=as_utc(row["last_action_at"]),
            last_actor_role=row["last_actor_role"],
            reopen_count=row["reopen_count"],
            reply_pending=bool(row["reply_pending"]),
            erased=bool(row["erased"]),
        )


def holdings_after(
    holdings: tuple[Holding, ...], before: tuple[str, ...], after: tuple[str, ...], at: datetime
) -> tuple[Holding, ...]:
    """Record arrivals on and departures from the holder chain."""
    out: list[Holding] = []
    for h in holdings:
        if h.agency in after and h.agency not in before:
            out.append(replace(h, released_at=None))  # held again
        elif h.agency in before and h.agency not in after:
            out.append(replace(h, released_at=at))
        else:
            out.append(h)
    known = {h.agency for h in holdings}
    out.extend(Holding(a, at, None) for a in after if a not in known)
    return tuple(out)


def start(payload: Filed) -> InboxState:
    return InboxState(
        complaint_id=payload.complaint_id,
        tracking_id=payload.tracking_id,
        version=payload.version,
        filed_at=payload.at,
        title=payload.title,
        kind=payload.kind,
        category=payload.category,
        channel=payload.channel,
        visibility=payload.visibility,
        state=S.SUBMITTED,
        chain=(),
        holdings=(),
        clock="verification",
        due_at=payload.verification_due_at,
        last_action=payload.type,
        last_action_at=payload.at,
        last_actor_role=payload.role,
        reopen_count=0,
        reply_pending=False,
        erased=False,
    )


def advance(current: InboxState | None, payload: AnyPayload) -> InboxState:
    """The complaint's inbox state once `payload` has happened."""
    if isinstance(payload, Filed):
        return start(payload)
    if current is None:
        raise ValueError(f"{payload.type} (version {payload.version}) before the complaint's Filed")
    chain = chain_after(current.chain, payload)
    clock = clock_after(
        None if current.clock is None else ClockKind(current.clock), current.due_at, payload
    )
    # One replace() per event (it goes through __init__ with every field): the changes of
    # the event's own kind are gathered first.
    changes: dict[str, Any] = {
        "version": payload.version,
        "state": state_after(current.state, payload),
        "chain": chain,
        "holdings": holdings_after(current.holdings, current.chain, chain, payload.at),
        "clock": None if clock.kind is None else clock.kind.value,
        "due_at": clock.due_at,
        "last_action": payload.type,
        "last_action_at": payload.at,
        "last_actor_role": payload.role,
    }
    match payload:
        case Verified():  # the desk may correct these at verification
            changes |= {
                "title": payload.title,
                "category": payload.category,
                "kind": payload.kind,
                "visibility": payload.visibility,
            }
        case VisibilityChanged():
            changes["visibility"] = payload.new
        case ReporterErased():
            changes["erased"] = True
        case Reopened():
            changes["reopen_count"] = current.reopen_count + 1
        case Responded() | Resolved():  # answered, or nothing left to answer
            changes["reply_pending"] = False
        case ReporterReplied() if payload.kind in ("comment", "dispute"):
            changes["reply_pending"] = True
    return replace(current, **changes)
