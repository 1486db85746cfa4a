"""The Complaint aggregate: one citizen report and everything that happens to it.

Each public command method checks the rules (state, actor, time) and then triggers an
event; each event class applies its own fact (`apply`), so replaying history never re-runs
a rule. Anything that needs the outside world (the calendar, the agency directory, the
reporter's key) is computed by the application and passed in as plain values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar
from uuid import UUID, uuid5

from eventsourcing.domain import Aggregate, event

from lapor_es.aggregates.chain import (
    BEFORE_DIGEST,
    GENESIS,
    SALT,
    canonical_payload,
    payload_hash,
    with_private_salt,
)
from lapor_es.aggregates.errors import (
    AlreadyRecorded,
    InvalidTransition,
    NotAuthorized,
    RuleViolation,
)
from lapor_es.aggregates.values import (
    TOP_LEVEL_AGENCY_KINDS,
    Actor,
    AgencyRef,
    ArchiveReason,
    ComplaintState,
    EscalationLevel,
    ReplyKind,
    ResolutionMode,
    ResponseKind,
    Role,
    Visibility,
)
from lapor_es.workflow.targeting import verification_target

S = ComplaintState
OPEN_AT_AGENCY = frozenset({S.FORWARDED, S.IN_PROGRESS})
BEFORE_VERIFICATION = frozenset({S.SUBMITTED, S.POSTPONED})
# Not closed (neither resolved nor archived): a duplicate can be merged away in any of these.
NOT_CLOSED = BEFORE_VERIFICATION | OPEN_AT_AGENCY | {S.RESPONDED}
# The fewest characters of an answer that closes something: a final response, the desk's
# reason for resolving by admin ("x" answers nobody). The application passes its setting.
MIN_ANSWER_CHARS = 20

# How much each visibility hides of the reporter and the report: lower is more exposed.
VISIBILITY_PROTECTION: dict[str, int] = {
    Visibility.PUBLIC: 0,
    Visibility.ANONYMOUS: 1,
    Visibility.CONFIDENTIAL: 2,
}


def complaint_id_for(tracking_id: str, namespace: UUID) -> UUID:
    """Complaint ids are derived from tracking ids, so a tracking id is a direct lookup, in
    the store's own namespace (aggregates.deployment), so two deployments never share one."""
    return uuid5(namespace, tracking_id)


def sla_mark(step: str, clock: str, due_at: datetime) -> str:
    """Identifies one rung of the SLA ladder, so the timer can never record it twice."""
    return f"{step}:{clock}:{due_at.isoformat()}"


def hashed_fields(event_class: type[Any], fields: Mapping[str, Any]) -> dict[str, Any]:
    """The fields an event's hash (and its published payload) covers.

    A field added in a later class version is covered only when it is set: an event stored
    before the field existed is upcast with it null, and must keep the hash it was stored
    with. Consumers read an absent field as null."""
    later: frozenset[str] = getattr(event_class, "added_later", frozenset())
    return {k: v for k, v in fields.items() if not (k in later and v is None)}


def stored_before_digest(state: dict[str, Any]) -> None:
    """Part of every complaint event's upcast v1 -> v2. The private salt and digest came
    (issue 10) without a new class version, so a v1 event may lack the salt: stored by the
    release of issue 9, hashed without a digest. BEFORE_DIGEST marks it (chain.py)."""
    state.setdefault(SALT, BEFORE_DIGEST)


def _require_answer(what: str, field: str, text: str, min_chars: int) -> None:
    if len(text.strip()) < min_chars:
        raise RuleViolation(
            f"{what} needs at least {min_chars} characters in {field}",
            field=field,
            min_length=min_chars,
        )


def _acted(actor: Actor, at: datetime) -> dict[str, Any]:
    return {"actor_id": actor.id, "role": str(actor.role), "actor_agency": actor.agency, "at": at}


class Complaint(Aggregate):
    # ----------------------------------------------------------------- events
    class Event(Aggregate.Event):
        """Every complaint event says who acted, in which role, and when (business time),
        and is hash-chained to the complaint's previous event (see chain.py)."""

        actor_id: str
        role: str
        actor_agency: str | None
        at: datetime
        tracking_id: str
        prev_hash: str
        event_hash: str
        private_salt: str | None  # salts the digest of the private part (chain.py)
        # Fields added by a later class_version: hashed only when set (see hashed_fields).
        added_later: ClassVar[frozenset[str]] = frozenset()

        # Every event type stored by the release of issue 9 is at class_version 2; an
        # event type that adds fields of its own calls stored_before_digest in its upcaster.
        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            stored_before_digest(state)

        def mutate(self, aggregate: Any) -> Any:
            complaint: Any = super().mutate(aggregate)
            complaint.last_hash = self.event_hash
            complaint.last_event_at = self.at  # every event, timers' too: time never rewinds
            return complaint

    class Filed(Event, Aggregate.Created):
        class_version = 2
        kind: str
        channel: str
        title: str
        description: str
        category: str | None
        location: str | None
        reporter_ref: str
        sealed_identity: str
        visibility: str
        target_agency: str | None
        verification_due_at: datetime

    class Postponed(Event):
        class_version = 2
        reason: str
        remaining_days: int

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.state = S.POSTPONED
            c.due_at = None
            c.clock_paused_at = self.at
            c.paused_remaining_days = self.remaining_days
            c.last_action_at = self.at

    class InformationSupplemented(Event):
        class_version = 2
        text: str
        verification_due_at: datetime

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.state = S.SUBMITTED
            c.start_clock("verification", self.at, self.verification_due_at)
            c.last_action_at = self.at

    class Archived(Event):
        class_version = 2
        reason: str
        note: str

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.state = S.ARCHIVED
            c.archive_reason = self.reason
            c.stop_clock()
            c.last_action_at = self.at

    class Verified(Event):
        class_version = 2
        added_later = frozenset({"chosen_agency", "override_reason"})
        title: str
        category: str
        kind: str
        visibility: str
        # The agency the reporter chose at filing (the default target), and the desk's
        # reason when it sent the complaint elsewhere. None when there was no choice, when
        # the choice was kept (override_reason), and in v1.
        chosen_agency: str | None
        override_reason: str | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # v1 recorded neither: the desk always named the target.
            stored_before_digest(state)
            state["chosen_agency"] = None
            state["override_reason"] = None

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.verified = True
            c.title = self.title
            c.category = self.category
            c.kind = self.kind
            c.visibility = self.visibility

    class Forwarded(Event):
        class_version = 2
        added_later = frozenset({"work_continues"})
        from_agency: str | None
        to_agency: str
        level: str  # "agency" (from the national desk) or "unit" (down the tree)
        note: str
        follow_up_due_at: datetime
        # True when an agency passed a complaint it was already working on down to its own
        # unit: internal disposition, so it stays IN_PROGRESS. None otherwise (and in v1).
        work_continues: bool | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # v1 put every forwarding in FORWARDED, as the v1 engine decided.
            stored_before_digest(state)
            state["work_continues"] = None

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            if self.from_agency is None:
                c.holder_chain = [self.to_agency]
            else:
                keep = c.holder_chain.index(self.from_agency) + 1
                c.holder_chain = [*c.holder_chain[:keep], self.to_agency]
            c.forwarding_path.append(self.to_agency)
            c.state = S.IN_PROGRESS if self.work_continues else S.FORWARDED
            c.start_clock(
                "follow_up", self.at, self.follow_up_due_at
            )  # restarts with each forwarding
            c.last_action_at = self.at

    class ForwardingDeclined(Event):
        class_version = 2
        agency: str
        reason: str
        suggested_agency: str | None
        returned_to: str | None  # None: back to the national desk
        verification_due_at: datetime | None

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.holder_chain = c.holder_chain[:-1]
            if self.returned_to is None:
                # Back in the national queue: a fresh verification clock to re-dispose.
                c.state = S.SUBMITTED
                c.start_clock("verification", self.at, self.verification_due_at)
            else:
                # Back with the parent agency; its follow-up clock keeps running.
                c.state = S.FORWARDED
            c.last_action_at = self.at

    class WorkStarted(Event):
        class_version = 2
        agency: str

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.state = S.IN_PROGRESS
            c.last_action_at = self.at

    class Responded(Event):
        class_version = 2
        agency: str
        kind: str
        text: str
        follow_up_due_at: datetime | None
        auto_resolve_due_at: datetime | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # follow_up_due_at came within v1 (the first builds of 29 November lack it);
            # every release stored it, null or not, so it is hashed as stored.
            stored_before_digest(state)
            state.setdefault("follow_up_due_at", None)

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            if c.first_response_at is None:
                c.first_response_at = self.at
            if self.kind == ResponseKind.FINAL:
                c.state = S.RESPONDED
                c.final_response_at = self.at
                c.start_clock("auto_resolve", self.at, self.auto_resolve_due_at)
            else:
                # An interim response is the follow-up the clock asked for; the next one
                # is due within the same limit.
                c.state = S.IN_PROGRESS
                c.start_clock("follow_up", self.at, self.follow_up_due_at)
            c.last_action_at = self.at

    class ReporterReplied(Event):
        class_version = 2
        kind: str
        text: str
        follow_up_due_at: datetime | None
        auto_resolve_due_at: datetime | None

        @staticmethod
        def upcast_v1_v2(state: dict[str, Any]) -> None:
            # auto_resolve_due_at came within v1, as Responded's follow_up_due_at did.
            stored_before_digest(state)
            state.setdefault("auto_resolve_due_at", None)

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            if self.follow_up_due_at is not None:  # a dispute
                c.state = S.IN_PROGRESS
                c.start_clock("follow_up", self.at, self.follow_up_due_at)
            elif self.auto_resolve_due_at is not None:  # a comment in the reply window
                c.clock_started_at = self.at
                c.due_at = self.auto_resolve_due_at
            c.last_action_at = self.at

    class Resolved(Event):
        class_version = 2
        mode: str
        note: str

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.state = S.RESOLVED
            c.resolved_at = self.at
            c.resolution_mode = self.mode
            c.stop_clock()
            c.last_action_at = self.at

    class Reopened(Event):
        class_version = 2
        reason: str
        follow_up_due_at: datetime

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.state = S.IN_PROGRESS
            c.reopen_count += 1
            c.resolved_at = None
            c.resolution_mode = None
            c.start_clock("follow_up", self.at, self.follow_up_due_at)
            c.last_action_at = self.at

    class Merged(Event):
        class_version = 2
        into_id: UUID
        into_tracking_id: str

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.state = S.ARCHIVED
            c.archive_reason = str(ArchiveReason.DUPLICATE)
            c.merged_into = self.into_tracking_id
            c.holder_chain = []  # a duplicate merged after forwarding leaves the agency
            c.stop_clock()
            c.last_action_at = self.at

    class DuplicateMerged(Event):
        """Recorded on the original: a duplicate report was merged into it."""

        class_version = 1
        duplicate_id: UUID
        duplicate_tracking_id: str

        def apply(self, aggregate: Any) -> None:
            pass  # a trace on the original's history; its own workflow carries on unchanged

    class SlaWarned(Event):
        class_version = 2
        clock: str
        due_at: datetime

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.sla_marks.append(sla_mark("warned", self.clock, self.due_at))

    class SlaBreached(Event):
        class_version = 2
        clock: str
        due_at: datetime

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.sla_marks.append(sla_mark("breached", self.clock, self.due_at))

    class Escalated(Event):
        class_version = 2
        level: str
        to_agency: str
        clock: str
        due_at: datetime

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.sla_marks.append(sla_mark(f"escalated-{self.level}", self.clock, self.due_at))

    class VisibilityChanged(Event):
        class_version = 2
        old: str
        new: str
        reason: str

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.visibility = self.new

    class ReporterErased(Event):
        class_version = 2
        reason: str

        def apply(self, aggregate: Any) -> None:
            c: Complaint = aggregate
            c.identity_erased = True

    # --------------------------------------------------------------- creation
    @staticmethod
    def create_id(tracking_id: str, namespace: UUID, **_: Any) -> UUID:
        return complaint_id_for(tracking_id, namespace)

    @staticmethod
    def require_can_file(actor: Actor) -> None:
        if actor.role not in (Role.REPORTER, Role.NATIONAL_ADMIN):
            # The desk may file on a citizen's behalf (e.g. a letter or a walk-in).
            raise NotAuthorized(f"role {actor.role} cannot file a complaint", role=str(actor.role))

    @classmethod
    def file(
        cls,
        *,
        actor: Actor,
        at: datetime,
        tracking_id: str,
        kind: str,
        channel: str,
        title: str,
        description: str,
        category: str | None,
        location: str | None,
        reporter_ref: str,
        sealed_identity: str,
        visibility: str,
        target_agency: str | None,
        verification_due_at: datetime,
        namespace: UUID,
    ) -> Complaint:
        """A new complaint; its id is derived from `tracking_id` in the store's `namespace`."""
        cls.require_can_file(actor)
        fields: dict[str, Any] = {
            **_acted(actor, at),
            "tracking_id": tracking_id,
            "prev_hash": GENESIS,
            "kind": kind,
            "channel": channel,
            "title": title,
            "description": description,
            "category": category,
            "location": location,
            "reporter_ref": reporter_ref,
            "sealed_identity": sealed_identity,
            "visibility": visibility,
            "target_agency": target_agency,
            "verification_due_at": verification_due_at,
        }
        fields = with_private_salt(fields)
        complaint_id = complaint_id_for(tracking_id, namespace)
        payload = canonical_payload("Filed", complaint_id, 1, hashed_fields(cls.Filed, fields))
        # The id is given, not derived by create_id from the event's fields: the namespace is
        # the store's, not a fact of the complaint.
        return cls._create(cls.Filed, id=complaint_id, **fields, event_hash=payload_hash(payload))

    @event(Filed)
    def __init__(
        self,
        *,
        actor_id: str,
        role: str,
        actor_agency: str | None,
        at: datetime,
        tracking_id: str,
        prev_hash: str,
        event_hash: str,
        private_salt: str | None,
        kind: str,
        channel: str,
        title: str,
        description: str,
        category: str | None,
        location: str | None,
        reporter_ref: str,
        sealed_identity: str,
        visibility: str,
        target_agency: str | None,
        verification_due_at: datetime,
    ) -> None:
        self.tracking_id = tracking_id
        self.last_hash = event_hash
        self.last_event_at = at
        self.kind = kind
        self.channel = channel
        self.title = title
        self.description = description
        self.category = category
        self.location = location
        self.reporter_ref = reporter_ref
        self.sealed_identity = sealed_identity
        self.visibility = visibility
        self.target_agency = target_agency
        self.filed_at = at
        self.last_action_at = at
        self.state = ComplaintState.SUBMITTED
        self.verified = False
        self.holder_chain: list[str] = []  # agency, then unit(s): who holds it now
        self.forwarding_path: list[str] = []  # every agency it was ever forwarded to
        self.clock: str | None = "verification"
        self.clock_started_at: datetime | None = at
        self.clock_paused_at: datetime | None = None
        self.due_at: datetime | None = verification_due_at
        self.paused_remaining_days: int | None = None
        self.first_response_at: datetime | None = None
        self.final_response_at: datetime | None = None
        self.resolved_at: datetime | None = None
        self.resolution_mode: str | None = None
        self.reopen_count = 0
        self.archive_reason: str | None = None
        self.merged_into: str | None = None
        self.identity_erased = False
        self.sla_marks: list[str] = []

    def trigger_event(self, event_class: type[Any], **kwargs: Any) -> None:
        """Every event after the first is chained to the last one's hash."""
        fields = with_private_salt(
            {**kwargs, "tracking_id": self.tracking_id, "prev_hash": self.last_hash}
        )
        payload = canonical_payload(
            event_class.__name__, self.id, self.version + 1, hashed_fields(event_class, fields)
        )
        super().trigger_event(event_class, **fields, event_hash=payload_hash(payload))

    # ------------------------------------------------------------- properties
    @property
    def holder(self) -> str | None:
        return self.holder_chain[-1] if self.holder_chain else None

    @property
    def is_terminal(self) -> bool:
        return self.state == S.ARCHIVED

    # ------------------------------------------------------------ the desk
    def postpone(self, actor: Actor, at: datetime, *, reason: str, remaining_days: int) -> None:
        """Wait for the reporter's extra information; the verification clock pauses."""
        self._require_national(actor, "postpone")
        self._require_state("postpone", {S.SUBMITTED})
        self._require_time(at)
        self.trigger_event(
            self.Postponed,
            **_acted(actor, at),
            reason=reason,
            remaining_days=max(0, remaining_days),
        )

    def supplement(
        self, actor: Actor, at: datetime, *, text: str, verification_due_at: datetime
    ) -> None:
        self._require_reporter(actor, "supplement")
        self._require_state("supplement", {S.POSTPONED})
        self._require_time(at)
        self._require_due(at, verification_due_at)
        self.trigger_event(
            self.InformationSupplemented,
            **_acted(actor, at),
            text=text,
            verification_due_at=verification_due_at,
        )

    def archive(self, actor: Actor, at: datetime, *, reason: ArchiveReason, note: str) -> None:
        self._require_national(actor, "archive")
        self._require_state("archive", BEFORE_VERIFICATION)
        self._require_time(at)
        if reason == ArchiveReason.DUPLICATE:
            raise RuleViolation(
                "a duplicate is archived with the merge command, naming the original"
            )
        self.trigger_event(self.Archived, **_acted(actor, at), reason=str(reason), note=note)

    def merge_into(self, actor: Actor, at: datetime, *, original: Complaint) -> None:
        """Close this report as a duplicate of `original`, which carries on, and leave the
        trace on the original (DuplicateMerged). Save both together.

        The desk merges any report not yet closed, verified and forwarded ones too: the
        agency holding the duplicate loses it and its clock stops. The original may be
        anything but archived (an archived report is not handled, and a merged one is itself
        a duplicate: name its original): a resolved original carries the answer to the same
        problem, which the duplicate's reporter is pointed to (the desk reopens it if the
        problem persists). Every rule is checked before either complaint changes."""
        self._require_national(actor, "merge")
        if original.id == self.id:
            raise RuleViolation("a complaint cannot be merged into itself")
        self._require_state("merge", NOT_CLOSED)
        self._require_time(at)
        if original.state == S.ARCHIVED:
            raise RuleViolation(
                f"cannot merge into {original.tracking_id}: it is archived"
                + (f" (a duplicate of {original.merged_into})" if original.merged_into else ""),
                into=original.tracking_id,
                into_state=str(original.state),
            )
        original._require_time(at)
        self.trigger_event(
            self.Merged,
            **_acted(actor, at),
            into_id=original.id,
            into_tracking_id=original.tracking_id,
        )
        original.trigger_event(
            original.DuplicateMerged,
            **_acted(actor, at),
            duplicate_id=self.id,
            duplicate_tracking_id=self.tracking_id,
        )

    def verify(
        self,
        actor: Actor,
        at: datetime,
        *,
        title: str,
        category: str,
        kind: str,
        visibility: str,
        target: AgencyRef | None,
        note: str,
        follow_up_due_at: datetime,
        visibility_reason: str | None = None,
        override_reason: str | None = None,
    ) -> None:
        """The desk verifies, classifies and forwards in one step, as LAPOR! does.

        `target` is the agency the desk named, or the reporter's chosen agency when it named
        none (None: neither). Sending it elsewhere than the reporter chose needs an
        `override_reason` (workflow.targeting). A visibility lower than the reporter chose
        is recorded first as its own VisibilityChanged, with the desk's reason (see
        `_lowering`)."""
        self._require_national(actor, "verify")
        self._require_state("verify", {S.SUBMITTED})
        self._require_time(at)
        targeting = verification_target(
            self.target_agency, target.code if target else None, override_reason
        )
        if not targeting.decided:
            raise RuleViolation(
                "the reporter chose no agency: name one in to_agency"
                if targeting.missing == "to_agency"
                else f"sending it to {targeting.target} instead of the reporter's chosen "
                f"agency {self.target_agency} needs a reason (override_reason)",
                field=targeting.missing,
                chosen_agency=self.target_agency,
            )
        assert target is not None  # decided: there is a target
        self._require_top_level(target)
        self._require_due(at, follow_up_due_at)
        if self._lowering(visibility, visibility_reason, field="visibility_reason"):
            self.trigger_event(
                self.VisibilityChanged,
                **_acted(actor, at),
                old=self.visibility,
                new=str(visibility),
                reason=str(visibility_reason).strip(),
            )
        self.trigger_event(
            self.Verified,
            **_acted(actor, at),
            title=title,
            category=category,
            kind=kind,
            visibility=visibility,
            chosen_agency=self.target_agency,
            override_reason=str(override_reason).strip() if targeting.overridden else None,
        )
        self.trigger_event(
            self.Forwarded,
            **_acted(actor, at),
            from_agency=None,
            to_agency=target.code,
            level="agency",
            note=note,
            follow_up_due_at=follow_up_due_at,
            work_continues=None,
        )

    # ------------------------------------------------------------ forwarding
    def forward(
        self,
        actor: Actor,
        at: datetime,
        *,
        target: AgencyRef,
        note: str,
        follow_up_due_at: datetime,
    ) -> None:
        """The desk (re)disposes to an agency; an agency passes it down to its own unit."""
        self._require_time(at)
        if actor.role == Role.NATIONAL_ADMIN:
            self._require_state("forward", {S.SUBMITTED} | OPEN_AT_AGENCY)
            if self.state == S.SUBMITTED and not self.verified:
                raise InvalidTransition(self.state, "forward", "verify it first")
            self._require_top_level(target)
            self._require_not_holding(target)
            self._require_due(at, follow_up_due_at)
            self.trigger_event(
                self.Forwarded,
                **_acted(actor, at),
                from_agency=None,
                to_agency=target.code,
                level="agency",
                note=note,
                follow_up_due_at=follow_up_due_at,
                work_continues=None,
            )
            return
        self._require_agency_in_chain(actor, "forward")
        self._require_state("forward", OPEN_AT_AGENCY)
        if target.parent != actor.agency:
            raise NotAuthorized(
                f"{actor.agency} may forward only to its own units; {target.code} is not one",
                agency=actor.agency,
                target=target.code,
            )
        self._require_not_holding(target)
        self._require_due(at, follow_up_due_at)
        self.trigger_event(
            self.Forwarded,
            **_acted(actor, at),
            from_agency=actor.agency,
            to_agency=target.code,
            level="unit",
            note=note,
            follow_up_due_at=follow_up_due_at,
            # Passing work down inside the agency is not "no follow-up yet".
            work_continues=True if self.state == S.IN_PROGRESS else None,
        )

    def decline(
        self,
        actor: Actor,
        at: datetime,
        *,
        reason: str,
        suggested_agency: str | None,
        verification_due_at: datetime,
    ) -> None:
        """Not this agency's authority (bukan wewenang): one step back up the path."""
        self._require_agency(actor, "decline")
        self._require_state("decline", {S.FORWARDED})
        if actor.agency != self.holder:
            raise NotAuthorized(f"only the holder {self.holder} can decline", holder=self.holder)
        self._require_time(at)
        self._require_due(at, verification_due_at)
        returned_to = self.holder_chain[-2] if len(self.holder_chain) > 1 else None
        self.trigger_event(
            self.ForwardingDeclined,
            **_acted(actor, at),
            agency=actor.agency,
            reason=reason,
            suggested_agency=suggested_agency,
            returned_to=returned_to,
            verification_due_at=None if returned_to else verification_due_at,
        )

    # ------------------------------------------------------------ the agency
    def start_work(self, actor: Actor, at: datetime) -> None:
        self._require_agency_in_chain(actor, "start work on")
        self._require_state("start work on", {S.FORWARDED})
        self._require_time(at)
        self.trigger_event(self.WorkStarted, **_acted(actor, at), agency=actor.agency)

    def respond(
        self,
        actor: Actor,
        at: datetime,
        *,
        kind: ResponseKind,
        text: str,
        follow_up_due_at: datetime,
        auto_resolve_due_at: datetime,
        min_answer_chars: int = MIN_ANSWER_CHARS,
    ) -> None:
        """A final response opens the reporter's reply window; an interim one is a
        follow-up that restarts the agency's follow-up clock, so no complaint can be held
        indefinitely on interim answers. A final response must say something."""
        self._require_agency_in_chain(actor, "respond to")
        self._require_state("respond to", OPEN_AT_AGENCY)
        self._require_time(at)
        final = kind == ResponseKind.FINAL
        if final:
            _require_answer("a final response", "text", text, min_answer_chars)
        self._require_due(at, auto_resolve_due_at if final else follow_up_due_at)
        self.trigger_event(
            self.Responded,
            **_acted(actor, at),
            agency=actor.agency,
            kind=str(kind),
            text=text,
            follow_up_due_at=None if final else follow_up_due_at,
            auto_resolve_due_at=auto_resolve_due_at if final else None,
        )

    # ------------------------------------------------------------ the reporter
    def reply(
        self,
        actor: Actor,
        at: datetime,
        *,
        kind: ReplyKind,
        text: str,
        follow_up_due_at: datetime,
        auto_resolve_due_at: datetime,
    ) -> None:
        """A dispute sends it back to the agency; a comment during the reply window
        restarts the window (auto-closure needs 10 working days of silence)."""
        self._require_reporter(actor, "reply to")
        self._require_time(at)
        if kind == ReplyKind.COMMENT:
            self._require_state("comment on", OPEN_AT_AGENCY | {S.RESPONDED})
        else:
            self._require_state(f"{kind} the response to", {S.RESPONDED})
        dispute = kind == ReplyKind.DISPUTE
        window = kind == ReplyKind.COMMENT and self.state == S.RESPONDED
        self._require_due(at, follow_up_due_at if dispute else None)
        self._require_due(at, auto_resolve_due_at if window else None)
        self.trigger_event(
            self.ReporterReplied,
            **_acted(actor, at),
            kind=str(kind),
            text=text,
            follow_up_due_at=follow_up_due_at if dispute else None,
            auto_resolve_due_at=auto_resolve_due_at if window else None,
        )
        if kind == ReplyKind.CONFIRM:
            self.trigger_event(
                self.Resolved,
                **_acted(actor, at),
                mode=str(ResolutionMode.CONFIRMED_BY_REPORTER),
                note=text,
            )

    # ------------------------------------------------------------ closing
    def resolve(
        self,
        actor: Actor,
        at: datetime,
        *,
        mode: ResolutionMode,
        note: str,
        min_answer_chars: int = MIN_ANSWER_CHARS,
    ) -> None:
        """Close it. The desk closing it itself (by_admin) must say why: that closure
        answers the reporter instead of the agency, and statistics count it apart."""
        self._require_time(at)
        if mode == ResolutionMode.CONFIRMED_BY_REPORTER:
            self._require_reporter(actor, "confirm")
            self._require_state("confirm", {S.RESPONDED})
        elif mode == ResolutionMode.AUTO_CLOSED:
            if actor.role not in (Role.SYSTEM, Role.NATIONAL_ADMIN):
                raise NotAuthorized("only the system timer or the desk auto-closes a complaint")
            self._require_state("auto-close", {S.RESPONDED})
            assert self.due_at is not None
            if at < self.due_at:
                raise RuleViolation(
                    f"the reporter's reply window runs until {self.due_at.isoformat()}",
                    due_at=self.due_at.isoformat(),
                )
        else:
            self._require_national(actor, "resolve")
            self._require_state("resolve", OPEN_AT_AGENCY | {S.RESPONDED})
            _require_answer("resolving by admin", "note", note, min_answer_chars)
        self.trigger_event(self.Resolved, **_acted(actor, at), mode=str(mode), note=note)

    def reopen(
        self,
        actor: Actor,
        at: datetime,
        *,
        reason: str,
        window_days: int,
        follow_up_due_at: datetime,
    ) -> None:
        self._require_national(actor, "reopen")
        self._require_state("reopen", {S.RESOLVED})
        self._require_time(at)
        assert self.resolved_at is not None
        if at > self.resolved_at + timedelta(days=window_days):
            raise RuleViolation(
                f"a complaint can be reopened only within {window_days} days of resolution",
                resolved_at=self.resolved_at.isoformat(),
            )
        if not self.holder_chain:
            raise InvalidTransition(self.state, "reopen", "it was never held by an agency")
        self._require_due(at, follow_up_due_at)
        self.trigger_event(
            self.Reopened, **_acted(actor, at), reason=reason, follow_up_due_at=follow_up_due_at
        )

    # ------------------------------------------------------------ SLA ladder
    def warn_sla(self, actor: Actor, at: datetime, *, clock: str, due_at: datetime) -> None:
        self._require_running_clock(actor, at, clock, due_at, "warn")
        self._mark(sla_mark("warned", clock, due_at))
        self.trigger_event(self.SlaWarned, **_acted(actor, at), clock=clock, due_at=due_at)

    def breach_sla(self, actor: Actor, at: datetime, *, clock: str, due_at: datetime) -> None:
        self._require_running_clock(actor, at, clock, due_at, "breach")
        if at < due_at:
            raise RuleViolation(f"the {clock} clock is due only at {due_at.isoformat()}")
        self._mark(sla_mark("breached", clock, due_at))
        self.trigger_event(self.SlaBreached, **_acted(actor, at), clock=clock, due_at=due_at)

    def escalate(
        self,
        actor: Actor,
        at: datetime,
        *,
        level: EscalationLevel,
        to_agency: str,
        clock: str,
        due_at: datetime,
    ) -> None:
        self._require_running_clock(actor, at, clock, due_at, "escalate")
        if sla_mark("breached", clock, due_at) not in self.sla_marks:
            raise RuleViolation(f"the {clock} deadline {due_at.isoformat()} is not breached")
        if level == EscalationLevel.NATIONAL and (
            sla_mark(f"escalated-{EscalationLevel.PARENT}", clock, due_at) not in self.sla_marks
        ):
            raise RuleViolation("escalate to the parent agency before the national desk")
        self._mark(sla_mark(f"escalated-{level}", clock, due_at))
        self.trigger_event(
            self.Escalated,
            **_acted(actor, at),
            level=str(level),
            to_agency=to_agency,
            clock=clock,
            due_at=due_at,
        )

    # ------------------------------------------------------------ privacy
    def change_visibility(
        self, actor: Actor, at: datetime, *, visibility: Visibility, reason: str
    ) -> None:
        self._require_national(actor, "change the visibility of")
        self._require_time(at)
        if visibility == self.visibility:
            raise AlreadyRecorded(f"the complaint is already {visibility}")
        self._lowering(visibility, reason, field="reason")
        self.trigger_event(
            self.VisibilityChanged,
            **_acted(actor, at),
            old=self.visibility,
            new=str(visibility),
            reason=reason,
        )

    def erase_reporter(self, actor: Actor, at: datetime, *, reason: str) -> None:
        if actor.role not in (Role.NATIONAL_ADMIN, Role.SYSTEM):
            raise NotAuthorized("only the national desk erases a reporter's identity")
        if self.identity_erased:
            raise AlreadyRecorded("the reporter's identity is already erased")
        self._require_time(at)
        self.trigger_event(self.ReporterErased, **_acted(actor, at), reason=reason)

    # ------------------------------------------------------------ guards
    def _lowering(self, visibility: str, reason: str | None, *, field: str) -> bool:
        """True when `visibility` protects the reporter less than the current one does.

        Lowering (anonymous or confidential to public, confidential to anonymous) exposes
        what the reporter chose to hide, so it needs a reason, whichever command does it;
        raising the protection needs none."""
        if VISIBILITY_PROTECTION[visibility] >= VISIBILITY_PROTECTION[self.visibility]:
            return False
        if not (reason and reason.strip()):
            raise RuleViolation(
                f"lowering the visibility from {self.visibility} to {visibility} needs a "
                f"reason ({field})",
                field=field,
                old=self.visibility,
                new=str(visibility),
            )
        return True

    def _require_state(self, action: str, allowed: Iterable[ComplaintState]) -> None:
        allowed = set(allowed)
        if self.state not in allowed:
            names = ", ".join(sorted(allowed))
            raise InvalidTransition(self.state, action, f"allowed only in {names}")

    def _require_time(self, at: datetime) -> None:
        if at < self.last_event_at:
            raise RuleViolation(
                f"time {at.isoformat()} is before the complaint's last event "
                f"at {self.last_event_at.isoformat()}",
                at=at.isoformat(),
                last_event_at=self.last_event_at.isoformat(),
            )

    def _require_national(self, actor: Actor, action: str) -> None:
        if actor.role != Role.NATIONAL_ADMIN:
            raise NotAuthorized(
                f"only the national desk can {action} a complaint", role=str(actor.role)
            )

    def _require_reporter(self, actor: Actor, action: str) -> None:
        if actor.role != Role.REPORTER or actor.id != self.reporter_ref:
            raise NotAuthorized(
                f"only the complaint's reporter can {action} it", role=str(actor.role)
            )

    def _require_agency(self, actor: Actor, action: str) -> None:
        if actor.role != Role.AGENCY_ADMIN or not actor.agency:
            raise NotAuthorized(f"only an agency can {action} a complaint", role=str(actor.role))

    def _require_agency_in_chain(self, actor: Actor, action: str) -> None:
        """The holder, or an agency above it on the forwarding path, may act."""
        self._require_agency(actor, action)
        if actor.agency not in self.holder_chain:
            raise NotAuthorized(
                f"{actor.agency} does not hold complaint {self.tracking_id}"
                + (f" (held by {self.holder})" if self.holder else ""),
                agency=actor.agency,
                holder=self.holder,
            )

    def _require_top_level(self, target: AgencyRef) -> None:
        if target.kind not in TOP_LEVEL_AGENCY_KINDS:
            raise RuleViolation(
                f"the national desk forwards to agencies, not to a {target.kind} ({target.code})",
                target=target.code,
            )

    def _require_running_clock(
        self, actor: Actor, at: datetime, clock: str, due_at: datetime, action: str
    ) -> None:
        if actor.role != Role.SYSTEM:
            raise NotAuthorized(f"only the SLA timer can {action} a deadline")
        self._require_time(at)
        if clock == "auto_resolve":
            # The reply window is the reporter's, not an agency deadline: it ends in
            # auto-closure (resolve mode auto_closed), never in warnings or escalations.
            raise RuleViolation(f"the auto_resolve window cannot be {action}ed")
        if self.clock != clock or self.due_at != due_at:
            raise RuleViolation(
                f"the {clock} clock due {due_at.isoformat()} is not running",
                clock=self.clock,
                due_at=self.due_at.isoformat() if self.due_at else None,
            )

    def _require_not_holding(self, target: AgencyRef) -> None:
        """Forwarding to a current holder would only restart its deadline."""
        if target.code in self.holder_chain:
            raise RuleViolation(
                f"the complaint is already held by {target.code}", target=target.code
            )

    def _require_due(self, at: datetime, due_at: datetime | None) -> None:
        if due_at is not None and due_at < at:
            raise RuleViolation(
                f"a deadline ({due_at.isoformat()}) cannot precede the action ({at.isoformat()})"
            )

    def _mark(self, mark: str) -> None:
        if mark in self.sla_marks:
            raise AlreadyRecorded(f"already recorded: {mark}")

    def start_clock(self, kind: str, at: datetime, due_at: datetime | None) -> None:
        """(Re)start an SLA clock: a complaint has at most one running at a time."""
        self.clock = kind
        self.clock_started_at = at
        self.clock_paused_at = None
        self.due_at = due_at
        self.paused_remaining_days = None

    def stop_clock(self) -> None:
        self.clock = None
        self.clock_started_at = None
        self.clock_paused_at = None
        self.due_at = None
        self.paused_remaining_days = None


def complaint_event_classes() -> list[type[Complaint.Event]]:
    """Every event class a complaint can record: what the store holds and the topic carries.

    The library's default `Created` class is left out: `file` creates with `Filed`.
    """
    return [
        cls
        for name, cls in vars(Complaint).items()
        if isinstance(cls, type)
        and issubclass(cls, Complaint.Event)
        and cls is not Complaint.Event
        and name != "Created"
    ]
