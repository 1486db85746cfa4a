"""The little world the Complaint transition tests share (no I/O at all): an agency tree,
actors, due times, a builder that drives a complaint to each state, and the catalogue of
actions with where the aggregate allows them (design.md section 3)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from eventsourcing.domain import CanMutateAggregate

from lapor_es.aggregates import (
    Actor,
    AgencyKind,
    AgencyRef,
    ArchiveReason,
    Complaint,
    ComplaintKind,
    ComplaintState,
    EscalationLevel,
    ReplyKind,
    ResolutionMode,
    ResponseKind,
    Role,
    Visibility,
)
from tests.support.builders import FILED_AT, REPORTER, filed_complaint, replayed

S = ComplaintState


# ----------------------------------------------------------------- the little world
T0 = FILED_AT  # a Monday
H = timedelta(hours=1)
D = timedelta(days=1)

DESK = AgencyRef("LAPOR", None, AgencyKind.NATIONAL_DESK)
A = AgencyRef("A", "LAPOR", AgencyKind.MINISTRY)
B = AgencyRef("B", "LAPOR", AgencyKind.PROVINCE)
A_U1 = AgencyRef("A.U1", "A", AgencyKind.UNIT)
A_U2 = AgencyRef("A.U2", "A", AgencyKind.UNIT)
A_U1_X = AgencyRef("A.U1.X", "A.U1", AgencyKind.UNIT)  # a unit below a unit
B_U1 = AgencyRef("B.U1", "B", AgencyKind.UNIT)

OTHER_REPORTER = Actor("rep-2", Role.REPORTER)
ADMIN = Actor("desk-1", Role.NATIONAL_ADMIN, "LAPOR")
SYSTEM = Actor("sla-timer", Role.SYSTEM)


def agency(code: str) -> Actor:
    return Actor(f"admin-{code}", Role.AGENCY_ADMIN, code)


VERIFICATION_DUE = T0 + 3 * D
FOLLOW_UP_DUE = T0 + 7 * D
AUTO_RESOLVE_DUE = T0 + 14 * D
NOW = T0 + D  # later than every step the builders take, earlier than every due time


def names(events: list[Any]) -> list[str]:
    return [type(e).__name__ for e in events]


def new_events(c: Complaint, before: int) -> list[str]:
    return names(c.pending_events[before:])


def state_of(aggregate: object) -> dict[str, Any]:
    """An aggregate's attributes, without its pending events: what a replay must rebuild."""
    return {k: v for k, v in vars(aggregate).items() if k != "_pending_events"}


def state_now(c: Complaint) -> ComplaintState:
    """The state read afresh: mypy keeps `c.state` narrowed by an earlier assert even after
    a command has changed it."""
    return c.state


def replay(events: Sequence[CanMutateAggregate[UUID]]) -> Complaint:
    return replayed(events, Complaint)


# ----------------------------------------------------------------- drive to a state
def do_verify(c: Complaint, at: datetime, target: AgencyRef = A) -> None:
    c.verify(
        ADMIN,
        at,
        title="Jalan rusak di Bandung",
        category="infrastruktur",
        kind=ComplaintKind.COMPLAINT,
        visibility=Visibility.PUBLIC,
        target=target,
        note="mohon ditindaklanjuti",
        follow_up_due_at=FOLLOW_UP_DUE,
    )


def submitted() -> Complaint:
    return filed_complaint()


def postponed() -> Complaint:
    c = filed_complaint()
    c.postpone(ADMIN, T0 + H, reason="lokasi kurang jelas", remaining_days=2)
    return c


def forwarded() -> Complaint:
    c = filed_complaint()
    do_verify(c, T0 + 2 * H)
    return c


def in_progress() -> Complaint:
    c = forwarded()
    c.start_work(agency("A"), T0 + 3 * H)
    return c


def responded() -> Complaint:
    c = in_progress()
    c.respond(
        agency("A"),
        T0 + 4 * H,
        kind=ResponseKind.FINAL,
        text="sudah diperbaiki oleh dinas",
        follow_up_due_at=FOLLOW_UP_DUE,
        auto_resolve_due_at=AUTO_RESOLVE_DUE,
    )
    return c


def resolved() -> Complaint:
    c = responded()
    c.reply(
        REPORTER,
        T0 + 5 * H,
        kind=ReplyKind.CONFIRM,
        text="terima kasih",
        follow_up_due_at=NOW,
        auto_resolve_due_at=AUTO_RESOLVE_DUE,
    )
    return c


def archived() -> Complaint:
    c = filed_complaint()
    c.archive(ADMIN, T0 + H, reason=ArchiveReason.SPAM, note="iklan")
    return c


BUILDERS: dict[ComplaintState, Callable[[], Complaint]] = {
    S.SUBMITTED: submitted,
    S.POSTPONED: postponed,
    S.FORWARDED: forwarded,
    S.IN_PROGRESS: in_progress,
    S.RESPONDED: responded,
    S.RESOLVED: resolved,
    S.ARCHIVED: archived,
}


# ----------------------------------------------------------------- the action catalogue
@dataclass(frozen=True)
class Action:
    name: str  # words the InvalidTransition message uses
    run: Callable[[Complaint, datetime], None]
    needs_holder: bool = False  # agency-in-chain actions: refused as NotAuthorized if no holder


def _merge(c: Complaint, at: datetime) -> None:
    c.merge_into(ADMIN, at, original=filed_complaint(2))


ACTIONS: dict[str, Action] = {
    "verify": Action("verify", lambda c, at: do_verify(c, at)),
    "forward_national": Action(
        "forward",
        lambda c, at: c.forward(ADMIN, at, target=B, note="", follow_up_due_at=FOLLOW_UP_DUE),
    ),
    "forward_unit": Action(
        "forward",
        lambda c, at: c.forward(
            agency("A"), at, target=A_U1, note="", follow_up_due_at=FOLLOW_UP_DUE
        ),
        needs_holder=True,
    ),
    "postpone": Action(
        "postpone", lambda c, at: c.postpone(ADMIN, at, reason="?", remaining_days=2)
    ),
    "supplement": Action(
        "supplement",
        lambda c, at: c.supplement(REPORTER, at, text="RT 05", verification_due_at=at + 3 * D),
    ),
    "archive": Action(
        "archive", lambda c, at: c.archive(ADMIN, at, reason=ArchiveReason.TOO_GENERAL, note="")
    ),
    "merge": Action("merge", _merge),
    "decline": Action(
        "decline",
        lambda c, at: c.decline(
            agency("A"),
            at,
            reason="bukan wewenang",
            suggested_agency="B",
            verification_due_at=at + 3 * D,
        ),
    ),
    "start_work": Action(
        "start work on", lambda c, at: c.start_work(agency("A"), at), needs_holder=True
    ),
    "respond_interim": Action(
        "respond to",
        lambda c, at: c.respond(
            agency("A"),
            at,
            kind=ResponseKind.INTERIM,
            text="sedang dicek",
            follow_up_due_at=at + 5 * D,
            auto_resolve_due_at=at + 10 * D,
        ),
        needs_holder=True,
    ),
    "respond_final": Action(
        "respond to",
        lambda c, at: c.respond(
            agency("A"),
            at,
            kind=ResponseKind.FINAL,
            text="selesai diperbaiki oleh dinas",
            follow_up_due_at=at + 5 * D,
            auto_resolve_due_at=at + 10 * D,
        ),
        needs_holder=True,
    ),
    "comment": Action(
        "comment on",
        lambda c, at: c.reply(
            REPORTER,
            at,
            kind=ReplyKind.COMMENT,
            text="ada kabar?",
            follow_up_due_at=at + 5 * D,
            auto_resolve_due_at=at + 10 * D,
        ),
    ),
    "dispute": Action(
        "dispute the response to",
        lambda c, at: c.reply(
            REPORTER,
            at,
            kind=ReplyKind.DISPUTE,
            text="belum",
            follow_up_due_at=at + 5 * D,
            auto_resolve_due_at=at + 10 * D,
        ),
    ),
    "confirm_reply": Action(
        "confirm the response to",
        lambda c, at: c.reply(
            REPORTER,
            at,
            kind=ReplyKind.CONFIRM,
            text="ok",
            follow_up_due_at=at + 5 * D,
            auto_resolve_due_at=at + 10 * D,
        ),
    ),
    "resolve_confirmed": Action(
        "confirm",
        lambda c, at: c.resolve(REPORTER, at, mode=ResolutionMode.CONFIRMED_BY_REPORTER, note="ok"),
    ),
    "auto_close": Action(
        "auto-close",
        lambda c, at: c.resolve(SYSTEM, at, mode=ResolutionMode.AUTO_CLOSED, note="window"),
    ),
    "resolve_by_admin": Action(
        "resolve",
        lambda c, at: c.resolve(
            ADMIN, at, mode=ResolutionMode.BY_ADMIN, note="selesai, dikonfirmasi admin"
        ),
    ),
    "reopen": Action(
        "reopen",
        lambda c, at: c.reopen(
            ADMIN, at, reason="belum selesai", window_days=30, follow_up_due_at=at + 5 * D
        ),
    ),
}

# What the aggregate allows where (design.md section 3, plus the desk's overrides:
# re-disposing an open complaint, resolving it by admin, an agency responding at once).
ALLOWED: dict[ComplaintState, set[str]] = {
    # forward_national is refused in a fresh SUBMITTED complaint: it must be verified first.
    S.SUBMITTED: {"verify", "postpone", "archive", "merge"},
    S.POSTPONED: {"supplement", "archive", "merge"},
    S.FORWARDED: {
        "merge",  # issue 10 item 7: the desk merges a duplicate found after verification
        "forward_national",
        "forward_unit",
        "decline",
        "start_work",
        "respond_interim",
        "respond_final",
        "comment",
        "resolve_by_admin",
    },
    S.IN_PROGRESS: {
        "merge",
        "forward_national",
        "forward_unit",
        "respond_interim",
        "respond_final",
        "comment",
        "resolve_by_admin",
    },
    S.RESPONDED: {
        "merge",
        "comment",
        "dispute",
        "confirm_reply",
        "resolve_confirmed",
        "auto_close",
        "resolve_by_admin",
    },
    S.RESOLVED: {"reopen"},
    S.ARCHIVED: set(),
}

# The state reached by each allowed action (one step).
TARGET: dict[tuple[ComplaintState, str], ComplaintState] = {
    (S.SUBMITTED, "verify"): S.FORWARDED,
    (S.SUBMITTED, "postpone"): S.POSTPONED,
    (S.SUBMITTED, "archive"): S.ARCHIVED,
    (S.SUBMITTED, "merge"): S.ARCHIVED,
    (S.POSTPONED, "supplement"): S.SUBMITTED,
    (S.POSTPONED, "archive"): S.ARCHIVED,
    (S.POSTPONED, "merge"): S.ARCHIVED,
    (S.FORWARDED, "merge"): S.ARCHIVED,
    (S.IN_PROGRESS, "merge"): S.ARCHIVED,
    (S.RESPONDED, "merge"): S.ARCHIVED,
    (S.FORWARDED, "forward_national"): S.FORWARDED,
    (S.FORWARDED, "forward_unit"): S.FORWARDED,
    (S.FORWARDED, "decline"): S.SUBMITTED,
    (S.FORWARDED, "start_work"): S.IN_PROGRESS,
    (S.FORWARDED, "respond_interim"): S.IN_PROGRESS,
    (S.FORWARDED, "respond_final"): S.RESPONDED,
    (S.FORWARDED, "comment"): S.FORWARDED,
    (S.FORWARDED, "resolve_by_admin"): S.RESOLVED,
    (S.IN_PROGRESS, "forward_national"): S.FORWARDED,
    (S.IN_PROGRESS, "forward_unit"): S.IN_PROGRESS,  # internal disposition: work goes on
    (S.IN_PROGRESS, "respond_interim"): S.IN_PROGRESS,
    (S.IN_PROGRESS, "respond_final"): S.RESPONDED,
    (S.IN_PROGRESS, "comment"): S.IN_PROGRESS,
    (S.IN_PROGRESS, "resolve_by_admin"): S.RESOLVED,
    (S.RESPONDED, "comment"): S.RESPONDED,
    (S.RESPONDED, "dispute"): S.IN_PROGRESS,
    (S.RESPONDED, "confirm_reply"): S.RESOLVED,
    (S.RESPONDED, "resolve_confirmed"): S.RESOLVED,
    (S.RESPONDED, "auto_close"): S.RESOLVED,
    (S.RESPONDED, "resolve_by_admin"): S.RESOLVED,
    (S.RESOLVED, "reopen"): S.IN_PROGRESS,
}


def sla_call(c: Complaint, mark: str, at: datetime, *, clock: str, due_at: datetime) -> None:
    """Record SLA mark `mark` (warn, breach, parent, national) as the timer would."""
    if mark == "warn":
        c.warn_sla(SYSTEM, at, clock=clock, due_at=due_at)
    elif mark == "breach":
        c.breach_sla(SYSTEM, at, clock=clock, due_at=due_at)
    else:
        level = EscalationLevel.PARENT if mark == "parent" else EscalationLevel.NATIONAL
        c.escalate(SYSTEM, at, level=level, to_agency="LAPOR", clock=clock, due_at=due_at)
