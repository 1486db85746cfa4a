"""A Hypothesis state machine over one Complaint: random commands, random (sometimes wrong)
actors, a clock that only moves forward, and the aggregate's invariants after every step.

No I/O: the complaint is driven in memory and its events are never collected, so the
pending events are the whole history and can be replayed at any step.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from lapor_es.aggregates import (
    Actor,
    AgencyKind,
    AgencyRef,
    ArchiveReason,
    Complaint,
    ComplaintKind,
    ComplaintState,
    DomainError,
    EscalationLevel,
    ReplyKind,
    ResolutionMode,
    ResponseKind,
    Role,
    Visibility,
)
from lapor_es.aggregates.values import TOP_LEVEL_AGENCY_KINDS
from tests.support.builders import FILED_AT, REPORTER, filed_complaint

S = ComplaintState
T0 = FILED_AT

# The small agency tree: desk LAPOR; ministries A, B; units A.U1, A.U2, B.U1.
DESK = AgencyRef("LAPOR", None, AgencyKind.NATIONAL_DESK)
TREE: dict[str, AgencyRef] = {
    ref.code: ref
    for ref in [
        DESK,
        AgencyRef("A", "LAPOR", AgencyKind.MINISTRY),
        AgencyRef("B", "LAPOR", AgencyKind.MINISTRY),
        AgencyRef("A.U1", "A", AgencyKind.UNIT),
        AgencyRef("A.U2", "A", AgencyKind.UNIT),
        AgencyRef("B.U1", "B", AgencyKind.UNIT),
    ]
}
AGENCY_CODES = [code for code in TREE if code != "LAPOR"]

ADMIN = Actor("desk-1", Role.NATIONAL_ADMIN, "LAPOR")
SYSTEM = Actor("sla-timer", Role.SYSTEM)
ALL_ACTORS = [
    REPORTER,
    Actor("rep-2", Role.REPORTER),
    ADMIN,
    SYSTEM,
    *(Actor(f"admin-{code}", Role.AGENCY_ADMIN, code) for code in TREE),
]

HOLDING_STATES = {S.FORWARDED, S.IN_PROGRESS, S.RESPONDED, S.RESOLVED}
# The clock that must be running in each open state (a complaint is never left without one).
RUNNING_CLOCK = {
    S.SUBMITTED: "verification",
    S.FORWARDED: "follow_up",
    S.IN_PROGRESS: "follow_up",
    S.RESPONDED: "auto_resolve",
}

# How often the rule uses the plausible actor (0..6) rather than any actor at all (7..9).
picks = st.integers(min_value=0, max_value=9)
anyone = st.sampled_from(ALL_ACTORS)
targets = st.sampled_from(list(TREE.values()))
steps = st.sampled_from(
    [
        timedelta(0),
        timedelta(minutes=5),
        timedelta(hours=3),
        timedelta(days=1),
        timedelta(days=4),
        timedelta(days=11),  # past a reporter's reply window
        timedelta(days=31),  # past the reopening window
    ]
)
# Due times are drawn relative to the action's time, and sometimes before it: the aggregate
# must refuse those (RuleViolation), so a clock is never due before it started.
due_days = st.integers(min_value=-3, max_value=15)


def state_of(c: Complaint) -> dict[str, Any]:
    return {k: v for k, v in c.__dict__.items() if k != "_pending_events"}


class ComplaintMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.c = filed_complaint(1)
        self.original = filed_complaint(2)  # an open complaint to merge into
        self.gone = filed_complaint(3)  # an archived one, which refuses merges
        self.gone.archive(ADMIN, T0, reason=ArchiveReason.SPAM, note="")
        self.archived_seen = False
        self.seen_version = self.c.version
        self.refused = 0
        self.accepted = 0

    # ------------------------------------------------------------ helpers
    def tick(self, step: timedelta) -> datetime:
        self.now += step
        return self.now

    def due(self, days: int) -> datetime:
        return self.now + timedelta(days=days)

    def agency_actor(self, pick: int, other: Actor) -> Actor:
        """The holder or someone above it on the path; otherwise anyone."""
        chain = self.c.holder_chain
        if pick >= 7 or not chain:
            return other
        code = chain[-1 - pick % len(chain)]
        return Actor(f"admin-{code}", Role.AGENCY_ADMIN, code)

    @staticmethod
    def plausible_target(pick: int, actor: Actor, other: AgencyRef) -> AgencyRef:
        """Where this actor may send it (a top-level agency, or one of its own units)."""
        parent = "LAPOR" if actor.role == Role.NATIONAL_ADMIN else actor.agency
        children = [ref for ref in TREE.values() if ref.parent == parent]
        if pick >= 7 or not children:
            return other
        return children[pick % len(children)]

    @staticmethod
    def plausible(pick: int, right: Actor, other: Actor) -> Actor:
        return right if pick < 7 else other

    def attempt(self, action: Callable[[], None]) -> None:
        """Run one command: it either adds events or raises and changes nothing."""
        c = self.c
        before = copy.deepcopy(state_of(c))
        version, pending = c.version, len(c.pending_events)
        try:
            action()
        except DomainError:
            self.refused += 1
            assert c.version == version
            assert len(c.pending_events) == pending
            assert c.state == before["state"]
            assert state_of(c) == before
            return
        self.accepted += 1
        added = len(c.pending_events) - pending
        assert added >= 1
        assert c.version == version + added
        assert [e.originator_version for e in c.pending_events[pending:]] == list(
            range(version + 1, c.version + 1)
        )

    # ------------------------------------------------------------ the desk
    @initialize()
    def start(self) -> None:
        assert self.c.state == S.SUBMITTED

    @rule(step=steps, pick=picks, other=anyone, to=targets, days=due_days)
    def verify(self, step: timedelta, pick: int, other: Actor, to: AgencyRef, days: int) -> None:
        at = self.tick(step)
        to = self.plausible_target(pick, ADMIN, to)
        self.attempt(
            lambda: self.c.verify(
                self.plausible(pick, ADMIN, other),
                at,
                title="Pungli",
                category="pelayanan",
                kind=ComplaintKind.COMPLAINT,
                visibility=Visibility.PUBLIC,
                target=to,
                note="",
                follow_up_due_at=self.due(days),
            )
        )

    @rule(step=steps, pick=picks, other=anyone, remaining=st.integers(-2, 3))
    def postpone(self, step: timedelta, pick: int, other: Actor, remaining: int) -> None:
        at = self.tick(step)
        actor = self.plausible(pick, ADMIN, other)
        self.attempt(lambda: self.c.postpone(actor, at, reason="?", remaining_days=remaining))

    @rule(step=steps, pick=picks, other=anyone, days=due_days)
    def supplement(self, step: timedelta, pick: int, other: Actor, days: int) -> None:
        at = self.tick(step)
        actor = self.plausible(pick, REPORTER, other)
        self.attempt(
            lambda: self.c.supplement(actor, at, text="RT 05", verification_due_at=self.due(days))
        )

    # Archiving and merging end the run, so the right actor is drawn only one time in five.
    @rule(
        step=steps,
        gate=st.integers(0, 4),
        other=anyone,
        reason=st.sampled_from(list(ArchiveReason)),
    )
    def archive(self, step: timedelta, gate: int, other: Actor, reason: ArchiveReason) -> None:
        at = self.tick(step)
        actor = ADMIN if gate == 0 else other
        self.attempt(lambda: self.c.archive(actor, at, reason=reason, note=""))

    @rule(
        step=steps,
        gate=st.integers(0, 4),
        other=anyone,
        which=st.sampled_from(["open", "gone", "self"]),
    )
    def merge(self, step: timedelta, gate: int, other: Actor, which: str) -> None:
        at = self.tick(step)
        actor = ADMIN if gate == 0 else other
        original = {"open": self.original, "gone": self.gone, "self": self.c}[which]
        self.attempt(lambda: self.c.merge_into(actor, at, original=original))

    # ------------------------------------------------------------ forwarding
    @rule(
        step=steps,
        pick=picks,
        other=anyone,
        to=targets,
        days=due_days,
        desk=st.booleans(),
    )
    def forward(
        self, step: timedelta, pick: int, other: Actor, to: AgencyRef, days: int, desk: bool
    ) -> None:
        at = self.tick(step)
        actor = self.plausible(pick, ADMIN, other) if desk else self.agency_actor(pick, other)
        to = self.plausible_target(pick, actor, to)
        self.attempt(
            lambda: self.c.forward(actor, at, target=to, note="", follow_up_due_at=self.due(days))
        )

    @rule(step=steps, pick=picks, other=anyone, days=due_days)
    def decline(self, step: timedelta, pick: int, other: Actor, days: int) -> None:
        at = self.tick(step)
        actor = self.agency_actor(0 if pick < 7 else pick, other)  # the holder itself
        self.attempt(
            lambda: self.c.decline(
                actor,
                at,
                reason="bukan wewenang",
                suggested_agency=None,
                verification_due_at=self.due(days),
            )
        )

    # ------------------------------------------------------------ the agency
    @rule(step=steps, pick=picks, other=anyone)
    def start_work(self, step: timedelta, pick: int, other: Actor) -> None:
        at = self.tick(step)
        actor = self.agency_actor(pick, other)
        self.attempt(lambda: self.c.start_work(actor, at))

    @rule(
        step=steps,
        pick=picks,
        other=anyone,
        kind=st.sampled_from(list(ResponseKind)),
        days=due_days,
        resolve_days=due_days,
    )
    def respond(
        self,
        step: timedelta,
        pick: int,
        other: Actor,
        kind: ResponseKind,
        days: int,
        resolve_days: int,
    ) -> None:
        at = self.tick(step)
        actor = self.agency_actor(pick, other)
        self.attempt(
            lambda: self.c.respond(
                actor,
                at,
                kind=kind,
                text="",
                follow_up_due_at=self.due(days),
                auto_resolve_due_at=self.due(resolve_days),
            )
        )

    # ------------------------------------------------------------ the reporter
    @rule(
        step=steps,
        pick=picks,
        other=anyone,
        kind=st.sampled_from(list(ReplyKind)),
        days=due_days,
        resolve_days=due_days,
    )
    def reply(
        self,
        step: timedelta,
        pick: int,
        other: Actor,
        kind: ReplyKind,
        days: int,
        resolve_days: int,
    ) -> None:
        at = self.tick(step)
        actor = self.plausible(pick, REPORTER, other)
        self.attempt(
            lambda: self.c.reply(
                actor,
                at,
                kind=kind,
                text="",
                follow_up_due_at=self.due(days),
                auto_resolve_due_at=self.due(resolve_days),
            )
        )

    # ------------------------------------------------------------ closing
    @rule(
        step=steps,
        pick=picks,
        other=anyone,
        mode=st.sampled_from(list(ResolutionMode)),
        wait_for_due=st.booleans(),
    )
    def resolve(
        self, step: timedelta, pick: int, other: Actor, mode: ResolutionMode, wait_for_due: bool
    ) -> None:
        at = self.tick(step)
        if wait_for_due and self.c.due_at is not None and self.c.due_at > at:
            at = self.now = self.c.due_at
        right = {
            ResolutionMode.CONFIRMED_BY_REPORTER: REPORTER,
            ResolutionMode.AUTO_CLOSED: SYSTEM,
            ResolutionMode.BY_ADMIN: ADMIN,
        }[mode]
        actor = self.plausible(pick, right, other)
        self.attempt(lambda: self.c.resolve(actor, at, mode=mode, note=""))

    @rule(step=steps, pick=picks, other=anyone, window=st.sampled_from([30, 1]), days=due_days)
    def reopen(self, step: timedelta, pick: int, other: Actor, window: int, days: int) -> None:
        at = self.tick(step)
        actor = self.plausible(pick, ADMIN, other)
        self.attempt(
            lambda: self.c.reopen(
                actor, at, reason="", window_days=window, follow_up_due_at=self.due(days)
            )
        )

    # ------------------------------------------------------------ the SLA ladder
    @rule(
        step=steps,
        pick=picks,
        other=anyone,
        mark=st.sampled_from(["warn", "breach", "parent", "national"]),
        running=st.booleans(),
        wait_for_due=st.booleans(),
    )
    def sla(
        self,
        step: timedelta,
        pick: int,
        other: Actor,
        mark: str,
        running: bool,
        wait_for_due: bool,
    ) -> None:
        at = self.tick(step)
        c = self.c
        if wait_for_due and c.due_at is not None and c.due_at > at:
            at = self.now = c.due_at
        clock = (c.clock or "follow_up") if running else "verification"
        due_at = (c.due_at or at) if running else at + timedelta(days=1)
        actor = self.plausible(pick, SYSTEM, other)
        if mark == "warn":
            self.attempt(lambda: c.warn_sla(actor, at, clock=clock, due_at=due_at))
        elif mark == "breach":
            self.attempt(lambda: c.breach_sla(actor, at, clock=clock, due_at=due_at))
        else:
            level = EscalationLevel.PARENT if mark == "parent" else EscalationLevel.NATIONAL
            self.attempt(
                lambda: c.escalate(
                    actor, at, level=level, to_agency="LAPOR", clock=clock, due_at=due_at
                )
            )

    # ------------------------------------------------------------ privacy
    @rule(step=steps, pick=picks, other=anyone, visibility=st.sampled_from(list(Visibility)))
    def change_visibility(
        self, step: timedelta, pick: int, other: Actor, visibility: Visibility
    ) -> None:
        at = self.tick(step)
        actor = self.plausible(pick, ADMIN, other)
        self.attempt(lambda: self.c.change_visibility(actor, at, visibility=visibility, reason=""))

    @rule(step=steps, pick=picks, other=anyone)
    def erase_reporter(self, step: timedelta, pick: int, other: Actor) -> None:
        at = self.tick(step)
        actor = self.plausible(pick, ADMIN, other)
        self.attempt(lambda: self.c.erase_reporter(actor, at, reason=""))

    # ------------------------------------------------------------ the happy path
    @rule(step=steps, choice=st.integers(0, 5), other=anyone, days=due_days)
    def advance(self, step: timedelta, choice: int, other: Actor, days: int) -> None:
        """The next step a well-behaved actor would take, so runs get deep into the table."""
        state = self.c.state
        if state == S.SUBMITTED:
            self.verify(step, choice, other, TREE["A"], days)
        elif state == S.POSTPONED:
            self.supplement(step, 0, other, days)
        elif state == S.FORWARDED:
            if choice < 3:
                self.start_work(step, choice, other)
            else:
                self.forward(step, choice, other, TREE["A.U1"], days, desk=False)
        elif state == S.IN_PROGRESS:
            kind = ResponseKind.FINAL if choice < 4 else ResponseKind.INTERIM
            self.respond(step, choice, other, kind, days, days)
        elif state == S.RESPONDED:
            if choice < 2:
                self.reply(step, 0, other, ReplyKind.DISPUTE, days, days)
            elif choice < 3:
                self.reply(step, 0, other, ReplyKind.COMMENT, days, days)
            elif choice < 4:
                self.reply(step, 0, other, ReplyKind.CONFIRM, days, days)
            else:
                self.resolve(step, 0, other, ResolutionMode.AUTO_CLOSED, wait_for_due=True)
        elif state == S.RESOLVED:
            self.reopen(step, 0, other, window=30, days=days)

    # ------------------------------------------------------------ stale commands
    @rule(
        pick=picks,
        other=anyone,
        which=st.sampled_from(
            ["verify", "postpone", "supplement", "start", "respond", "reply", "warn", "erase"]
        ),
    )
    def stale_command(self, pick: int, other: Actor, which: str) -> None:
        """A command dated before the last action never changes anything."""
        c = self.c
        at = c.last_action_at - timedelta(seconds=1)
        agency = self.agency_actor(pick, other)
        calls: dict[str, Callable[[], None]] = {
            "verify": lambda: c.verify(
                ADMIN,
                at,
                title="",
                category="",
                kind="complaint",
                visibility="public",
                target=TREE["A"],
                note="",
                follow_up_due_at=self.now,
            ),
            "postpone": lambda: c.postpone(ADMIN, at, reason="", remaining_days=1),
            "supplement": lambda: c.supplement(REPORTER, at, text="", verification_due_at=self.now),
            "start": lambda: c.start_work(agency, at),
            "respond": lambda: c.respond(
                agency,
                at,
                kind=ResponseKind.FINAL,
                text="jawaban akhir yang lengkap",
                follow_up_due_at=self.now,
                auto_resolve_due_at=self.now,
            ),
            "reply": lambda: c.reply(
                REPORTER,
                at,
                kind=ReplyKind.COMMENT,
                text="",
                follow_up_due_at=self.now,
                auto_resolve_due_at=self.now,
            ),
            "warn": lambda: c.warn_sla(
                SYSTEM, at, clock=c.clock or "follow_up", due_at=c.due_at or self.now
            ),
            "erase": lambda: c.erase_reporter(ADMIN, at, reason=""),
        }
        version = c.version
        self.attempt(calls[which])
        assert c.version == version, f"{which} dated {at} before the last action was accepted"

    # ------------------------------------------------------------ past due times
    @rule(
        step=steps,
        pick=picks,
        other=anyone,
        to=targets,
        late=st.sampled_from([timedelta(seconds=1), timedelta(hours=5), timedelta(days=3)]),
        which=st.sampled_from(
            [
                "verify",
                "supplement",
                "forward-desk",
                "forward-agency",
                "decline",
                "respond",
                "dispute",
                "comment",
                "reopen",
            ]
        ),
    )
    def past_due_command(
        self,
        step: timedelta,
        pick: int,
        other: Actor,
        to: AgencyRef,
        late: timedelta,
        which: str,
    ) -> None:
        """A command whose due time precedes it is never accepted, whoever sends it."""
        c = self.c
        at = self.tick(step)
        past = at - late
        agency = self.agency_actor(pick, other)
        desk = self.plausible(pick, ADMIN, other)
        calls: dict[str, Callable[[], None]] = {
            "verify": lambda: c.verify(
                desk,
                at,
                title="",
                category="",
                kind="complaint",
                visibility="public",
                target=self.plausible_target(pick, ADMIN, to),
                note="",
                follow_up_due_at=past,
            ),
            "supplement": lambda: c.supplement(
                self.plausible(pick, REPORTER, other), at, text="", verification_due_at=past
            ),
            "forward-desk": lambda: c.forward(
                desk,
                at,
                target=self.plausible_target(pick, desk, to),
                note="",
                follow_up_due_at=past,
            ),
            "forward-agency": lambda: c.forward(
                agency,
                at,
                target=self.plausible_target(pick, agency, to),
                note="",
                follow_up_due_at=past,
            ),
            "decline": lambda: c.decline(
                self.agency_actor(0, other),
                at,
                reason="",
                suggested_agency=None,
                verification_due_at=past,
            ),
            # both due times in the past: whichever the kind uses is refused
            "respond": lambda: c.respond(
                agency,
                at,
                kind=ResponseKind.FINAL if pick % 2 else ResponseKind.INTERIM,
                text="",
                follow_up_due_at=past,
                auto_resolve_due_at=past,
            ),
            "dispute": lambda: c.reply(
                self.plausible(pick, REPORTER, other),
                at,
                kind=ReplyKind.DISPUTE,
                text="",
                follow_up_due_at=past,
                auto_resolve_due_at=past,
            ),
            "comment": lambda: c.reply(
                self.plausible(pick, REPORTER, other),
                at,
                kind=ReplyKind.COMMENT,
                text="",
                follow_up_due_at=past,
                auto_resolve_due_at=past,
            ),
            "reopen": lambda: c.reopen(desk, at, reason="", window_days=30, follow_up_due_at=past),
        }
        # A comment outside the reply window uses neither due time, so it may go through.
        must_refuse = which != "comment" or c.state == S.RESPONDED
        version = c.version
        try:
            calls[which]()
        except DomainError:
            self.refused += 1
            assert c.version == version
            return
        assert not must_refuse, f"{which} with a due time before {at} was accepted"
        self.accepted += 1

    # ------------------------------------------------------------ invariants
    @invariant()
    def version_counts_the_events(self) -> None:
        c = self.c
        assert c.version == len(c.pending_events)
        assert c.version >= self.seen_version
        self.seen_version = c.version

    @invariant()
    def state_is_known(self) -> None:
        assert self.c.state in set(ComplaintState)

    @invariant()
    def resolved_has_a_final_response_or_was_closed_by_admin(self) -> None:
        c = self.c
        if c.state == S.RESOLVED:
            assert c.final_response_at is not None or c.resolution_mode == "by_admin"
            assert c.resolved_at is not None and c.resolution_mode is not None
        else:
            assert c.resolved_at is None and c.resolution_mode is None

    @invariant()
    def sla_clock_never_runs_backwards(self) -> None:
        c = self.c
        if c.due_at is not None:
            assert c.clock is not None
            assert c.clock_started_at is not None
            assert c.due_at >= c.clock_started_at
            assert c.clock_started_at <= self.now
        if c.state == S.POSTPONED:
            assert c.due_at is None
            assert c.paused_remaining_days is not None and c.paused_remaining_days >= 0
        if c.state in (S.RESOLVED, S.ARCHIVED):
            assert (c.clock, c.due_at) == (None, None)

    @invariant()
    def an_open_complaint_always_has_its_clock_running(self) -> None:
        """Interim responses restart the follow-up clock rather than stopping it, and a
        comment in the reply window restarts the window: an open complaint always has one
        deadline running."""
        c = self.c
        expected = RUNNING_CLOCK.get(c.state)
        if expected is not None:
            assert (c.clock, c.due_at is not None) == (expected, True), (c.state, c.clock)
            assert c.clock_paused_at is None

    @invariant()
    def the_sla_ladder_is_climbed_in_order(self) -> None:
        marks = [m.split(":", 2) for m in self.c.sla_marks]
        seen: set[tuple[str, str, str]] = set()
        for step, clock, due in marks:
            assert clock != "auto_resolve", "the reply window is never an SLA deadline"
            if step.startswith("escalated-"):
                assert ("breached", clock, due) in seen
            if step == "escalated-national":
                assert ("escalated-parent", clock, due) in seen
            seen.add((step, clock, due))
        assert len(seen) == len(marks)

    @invariant()
    def archived_is_terminal(self) -> None:
        if self.archived_seen:
            assert self.c.state == S.ARCHIVED
        self.archived_seen = self.c.state == S.ARCHIVED

    @invariant()
    def someone_holds_it_exactly_when_an_agency_has_it(self) -> None:
        c = self.c
        assert bool(c.holder_chain) == (c.state in HOLDING_STATES), (c.state, c.holder_chain)
        # The chain is a path down the tree: a top-level agency, then its units.
        if c.holder_chain:
            assert TREE[c.holder_chain[0]].kind in TOP_LEVEL_AGENCY_KINDS
            for parent, child in zip(c.holder_chain, c.holder_chain[1:], strict=False):
                assert TREE[child].parent == parent
            assert set(c.holder_chain) <= set(c.forwarding_path)

    @invariant()
    def time_moves_forward(self) -> None:
        assert self.c.filed_at <= self.c.last_action_at <= self.now

    @invariant()
    def replay_gives_the_same_state(self) -> None:
        agg = None
        for e in self.c.pending_events:
            agg = e.mutate(agg)
        assert agg is not None
        assert state_of(agg) == state_of(self.c)


ComplaintMachine.TestCase.settings = settings(
    max_examples=200, stateful_step_count=40, deadline=None
)
TestComplaintStateMachine = ComplaintMachine.TestCase
