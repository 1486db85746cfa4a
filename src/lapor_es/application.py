"""LaporApp: the service layer. One handler per command: load, decide, save.

Handlers are found through `HANDLERS`, a table {command type: handler} at the end of this
module; each takes the command and the unit of work it reads and writes through
(lapor_es.unit_of_work): `Immediate` for one command, `Batch` for `handle_many`.

Everything the aggregates need from outside (the working-day calendar, the agency
directory, the reporter's key) is resolved here and handed to them as plain values.
Saves are single transactions with optimistic concurrency; a command that loses a race
is decided again on the fresh state, so no write is ever based on a stale read.

What is wired in comes from outside (lapor_es.bootstrap builds it): the settings, the key
store (lapor_es.privacy.KeyStore) and the eventsourcing persistence environment. Nothing
here opens a database connection of its own.

The few queries (`complaint`, `history`, `clock_view`, `identity`, `agency`, `agencies`)
stay small read methods here rather than in a query module: each is a line or two over
the repository, the vault or the SLA policy this object already holds, and the read side
proper (lists, inboxes, statistics) lives in lapor_es.readmodels.
"""

from __future__ import annotations

import functools
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

import structlog
from eventsourcing.application import AggregateNotFoundError, Application, EventSourcedLog
from eventsourcing.domain import DomainEvent
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from lapor_es import commands as c
from lapor_es.aggregates import (
    Actor,
    Agency,
    AgencyKind,
    AgencyRef,
    Complaint,
    DomainError,
    IdempotencyKey,
    NotAuthorized,
    Reporter,
    Role,
    RuleViolation,
    TrackingSequence,
    UnknownAgency,
    agency_id_for,
    complaint_id_for,
    reporter_id_for,
)
from lapor_es.aggregates.deployment import DEPLOYMENT_ID, SHARED_COMPLAINT_NAMESPACE, Deployment
from lapor_es.aggregates.registry import format_tracking_id, idempotency_id
from lapor_es.config import Settings, eventsourcing_env
from lapor_es.privacy import KeyStore, ReporterIdentity, open_vault
from lapor_es.tracking import TrackingNumbers
from lapor_es.unit_of_work import Batch, Immediate, UnitOfWork
from lapor_es.workflow import JAKARTA, ClockKind, SlaClock, WorkingCalendar, clock_status

log = structlog.get_logger("lapor_es.app")

MAX_ATTEMPTS = 50  # lost races are retried with jittered back-off
AGENCY_LOG_ID = uuid5(NAMESPACE_URL, "https://lapor.go.id/ns/agency-directory-log")
NATIONAL_DESK = "LAPOR"


class NotFound(DomainError):
    code = "not_found"


class Conflict(DomainError):
    code = "conflict"


class AgencyListed(DomainEvent):
    """One entry of the directory's index: an agency code, in registration order."""

    code: str


def backoff(attempt: int) -> None:
    """Sleep a little, more after each lost race, with jitter so racers spread out."""
    time.sleep(random.uniform(0, min(0.05, 0.001 * 2**attempt)))


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ClockView:
    kind: str
    started_at: datetime | None
    due_at: datetime | None
    paused: bool
    working_days_left: int
    overdue: bool
    warn_at: datetime | None


class LaporApp(Application[UUID]):
    """Build it with lapor_es.bootstrap (`open_app`, or `in_memory_app` for tests).

    `keys` becomes the application's: `close()` closes it. `env` is eventsourcing's
    persistence environment; by default the one `settings.database_url` names.
    """

    name = "lapor"

    def __init__(
        self,
        settings: Settings,
        *,
        keys: KeyStore,
        env: Mapping[str, str] | None = None,
        calendar: WorkingCalendar | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.settings = settings
        self.snapshotting_intervals = {  # type: ignore[misc]
            Complaint: self.settings.snapshot_interval,
            TrackingSequence: 100,
            Reporter: 50,
        }
        super().__init__(env=dict(env) if env is not None else eventsourcing_env(settings))
        self.policy = self.settings.sla_policy
        self.calendar = calendar or self.settings.calendar
        self.now = clock
        self._agency_refs: dict[str, AgencyRef] = {}
        self.vault = open_vault(keys, settings.reporter_pepper)
        self.immediate = Immediate(self, keys)
        self.tracking = TrackingNumbers(
            self,
            settings.tracking_block_size,
            filed=lambda year, number: self.complaint_exists(format_tracking_id(year, number)),
        )
        self._last_batch_head: int | None = None  # store head after our last committed batch
        self.agency_log: EventSourcedLog[AgencyListed] = EventSourcedLog(
            self.events, AGENCY_LOG_ID, AgencyListed
        )

    def close(self) -> None:
        self.tracking.release()  # before the store closes: it records the unused numbers
        self.vault.keys.close()
        super().close()

    # ================================================================ dispatch
    def handle(self, command: c.Command) -> c.Outcome:
        """Execute one validated command. Raises DomainError (with a stable code)."""
        return self._dispatch(command, self.immediate)

    def handle_many(self, commands: Sequence[c.Command]) -> list[c.Outcome | DomainError]:
        """Run commands in order as ONE transaction: the same decisions as running them one
        by one, far fewer round trips (the simulator files a day of traffic at a time).

        Each command sees the effects of the ones before it. A refused command is returned
        as its error and changes nothing. If another writer got in between, the whole batch
        is run again one command at a time, so a batch never overwrites anyone.
        """
        batch = Batch(self, self.vault.keys, after=self._last_batch_head)
        self._last_batch_head = None
        try:
            with batch:
                results = [self._handle_or_error(command, batch) for command in commands]
                batch.commit()
        except IntegrityError:
            log.warning("batch.conflict", commands=len(commands))
            return [self._handle_or_error(command, self.immediate) for command in commands]
        self._last_batch_head = batch.head
        return results

    def _handle_or_error(self, command: c.Command, uow: UnitOfWork) -> c.Outcome | DomainError:
        try:
            return self._dispatch(command, uow)
        except DomainError as exc:
            return exc

    def _dispatch(self, command: c.Command, uow: UnitOfWork) -> c.Outcome:
        return HANDLERS[type(command)](self, command, uow)

    # ================================================================ filing
    def file(self, cmd: c.FileComplaint, uow: UnitOfWork) -> c.Outcome:
        actor, at = self._actor(cmd), self._at(cmd)
        identity = ReporterIdentity(**cmd.reporter.model_dump())
        reporter_ref = self.vault.reporter_ref(identity)
        if actor.role == Role.REPORTER:
            # A reporter files as themself; the reference is derived, not chosen.
            actor = Actor(id=reporter_ref, role=actor.role)
        # Who acts is checked before the key is looked up: a replayed key must not answer
        # (with the filing's pseudonym) an actor who could not have filed it.
        Complaint.require_can_file(actor)
        if cmd.idempotency_key and (
            earlier := self._idempotent_result(cmd.idempotency_key, actor, uow)
        ):
            return earlier
        if cmd.target_agency:
            self._agency_ref(cmd.target_agency, uow)
        year = at.astimezone(JAKARTA).year
        for attempt in range(MAX_ATTEMPTS):
            # Usually a new reporter: one read. Read again after a lost race (the race may
            # have been for this very reporter, filing twice at once).
            reporter = uow.get_new(reporter_id_for(reporter_ref), Reporter)
            # A new reporter's key is staged and stored with this save (lapor_es.privacy).
            sealed = self.vault.seal(reporter_ref, identity, new_reporter=reporter is None)
            # From this writer's block (lapor_es.tracking): no shared aggregate is saved.
            number = self.tracking.take(year)
            tracking_id = format_tracking_id(year, number)
            try:
                complaint, reporter, claim = self._filing(
                    cmd, actor, at, tracking_id, reporter_ref, sealed, reporter
                )
            except BaseException:  # refused before anything was written
                self.tracking.give_back(year, number)
                raise
            try:
                uow.save(complaint, reporter, claim)
            except IntegrityError:  # rolled back: nothing of it was stored
                self.tracking.give_back(year, number)
                backoff(attempt)
                # Lost a race: for the reporter, or the idempotency key itself.
                if cmd.idempotency_key and (
                    earlier := self._idempotent_result(cmd.idempotency_key, actor, uow)
                ):
                    return earlier
                continue
            except BaseException:
                # Perhaps stored (e.g. the connection was cut after COMMIT): never reissue it.
                self.tracking.set_aside(year, number)
                raise
            # A batch that does not commit gives the number back too.
            uow.on_rollback(functools.partial(self.tracking.give_back, year, number))
            log.info(
                "complaint.filed",
                complaint_id=str(complaint.id),
                tracking_id=tracking_id,
                channel=str(cmd.channel),
                kind=str(cmd.kind),
            )
            return self._outcome(cmd, complaint, reporter_ref=reporter_ref, duplicate=False)
        raise Conflict("could not file: the reporter's records stayed too busy, retry")

    def _filing(
        self,
        cmd: c.FileComplaint,
        actor: Actor,
        at: datetime,
        tracking_id: str,
        reporter_ref: str,
        sealed: str,
        reporter: Reporter | None,
    ) -> tuple[Complaint, Reporter, IdempotencyKey | None]:
        """The new complaint, its reporter linked to it, and the key's claim if any."""
        complaint = Complaint.file(
            actor=actor,
            at=at,
            tracking_id=tracking_id,
            kind=cmd.kind,
            channel=cmd.channel,
            title=cmd.title,
            description=cmd.description,
            category=cmd.category,
            location=cmd.location,
            reporter_ref=reporter_ref,
            sealed_identity=sealed,
            visibility=cmd.visibility,
            target_agency=cmd.target_agency,
            verification_due_at=self.calendar.add_working_days(at, self.policy.verification_days),
            namespace=self.complaint_namespace,
        )
        reporter = reporter or Reporter(reporter_ref=reporter_ref, at=at)
        reporter.link(complaint.id)
        claim = (
            IdempotencyKey(
                key=cmd.idempotency_key, complaint_id=complaint.id, tracking_id=tracking_id
            )
            if cmd.idempotency_key
            else None
        )
        return complaint, reporter, claim

    def _idempotent_result(self, key: str, actor: Actor, uow: UnitOfWork) -> c.Outcome | None:
        """The earlier filing under `key`, for an actor already allowed to file.

        A reporter's retry is the same reporter's (same pseudonym): another reporter
        reusing the key is refused rather than told whose filing it was.
        """
        claim = uow.get_new(idempotency_id(key), IdempotencyKey)
        if claim is None:
            return None
        complaint = uow.get(claim.complaint_id, Complaint)
        assert complaint is not None, "a claimed key is saved with its complaint"
        if actor.role == Role.REPORTER and actor.id != complaint.reporter_ref:
            raise Conflict("this idempotency key was used by another reporter's filing")
        return c.Outcome(
            command="file",
            complaint_id=str(complaint.id),
            tracking_id=complaint.tracking_id,
            version=complaint.version,
            state=str(complaint.state),
            reporter_ref=complaint.reporter_ref,
            duplicate=True,
        )

    # ================================================================ the desk
    def verify(self, cmd: c.Verify, uow: UnitOfWork) -> c.Outcome:
        if cmd.to_agency:
            self._agency_ref(cmd.to_agency, uow)  # an unknown agency is refused up front

        def decide(comp: Complaint, actor: Actor, at: datetime) -> None:
            # The desk's agency, else the reporter's choice; the aggregate decides whether
            # that is allowed (an override needs a reason; no agency at all is refused).
            code = cmd.to_agency or comp.target_agency
            comp.verify(
                actor,
                at,
                title=cmd.title,
                category=cmd.category,
                kind=cmd.kind,
                visibility=cmd.visibility,
                visibility_reason=cmd.visibility_reason,
                target=self._agency_ref(code, uow) if code else None,
                override_reason=cmd.override_reason,
                note=cmd.note,
                follow_up_due_at=self._due(at, ClockKind.FOLLOW_UP),
            )

        return self._decide(uow, cmd, decide)

    def postpone(self, cmd: c.Postpone, uow: UnitOfWork) -> c.Outcome:
        def decide(comp: Complaint, actor: Actor, at: datetime) -> None:
            left = self.calendar.working_days_left(at, comp.due_at) if comp.due_at else 0
            comp.postpone(actor, at, reason=cmd.reason, remaining_days=left)

        return self._decide(uow, cmd, decide)

    def supplement(self, cmd: c.Supplement, uow: UnitOfWork) -> c.Outcome:
        def decide(comp: Complaint, actor: Actor, at: datetime) -> None:
            remaining = comp.paused_remaining_days or 0
            comp.supplement(
                actor,
                at,
                text=cmd.text,
                verification_due_at=self.calendar.add_working_days(at, remaining),
            )

        return self._decide(uow, cmd, decide)

    def archive(self, cmd: c.Archive, uow: UnitOfWork) -> c.Outcome:
        return self._decide(
            uow,
            cmd,
            lambda comp, actor, at: comp.archive(actor, at, reason=cmd.reason, note=cmd.note),
        )

    def merge(self, cmd: c.Merge, uow: UnitOfWork) -> c.Outcome:
        """The duplicate closes (Merged) and the original records it (DuplicateMerged), in
        one save: both or neither. A lost race on either reloads both and decides again."""
        actor = self._actor(cmd)
        duplicate = self._complaint(cmd.complaint, uow)
        original = self._complaint(cmd.into, uow)
        with structlog.contextvars.bound_contextvars(
            complaint_id=str(duplicate.id),
            tracking_id=duplicate.tracking_id,
            principal=actor.id,  # only the desk merges: a staff principal, never a reporter
        ):
            for attempt in range(MAX_ATTEMPTS):
                self._require_version(duplicate, cmd.expected_version)
                duplicate.merge_into(actor, self._at(cmd), original=original)
                try:
                    uow.save(duplicate, original)
                except IntegrityError:
                    backoff(attempt)
                    duplicate = self._complaint(cmd.complaint, uow)
                    original = self._complaint(cmd.into, uow)
                    continue
                log.info(
                    "complaint.merge",
                    version=duplicate.version,
                    into=original.tracking_id,
                    role=str(actor.role),
                )
                return self._outcome(cmd, duplicate)
        raise Conflict(f"complaint {duplicate.tracking_id} is too busy: retry later")

    def forward(self, cmd: c.Forward, uow: UnitOfWork) -> c.Outcome:
        target = self._agency_ref(cmd.to_agency, uow)
        return self._decide(
            uow,
            cmd,
            lambda comp, actor, at: comp.forward(
                actor,
                at,
                target=target,
                note=cmd.note,
                follow_up_due_at=self._due(at, ClockKind.FOLLOW_UP),
            ),
        )

    def decline(self, cmd: c.Decline, uow: UnitOfWork) -> c.Outcome:
        if cmd.suggested_agency:
            self._agency_ref(cmd.suggested_agency, uow)
        return self._decide(
            uow,
            cmd,
            lambda comp, actor, at: comp.decline(
                actor,
                at,
                reason=cmd.reason,
                suggested_agency=cmd.suggested_agency,
                verification_due_at=self._due(at, ClockKind.VERIFICATION),
            ),
        )

    # ================================================================ agencies
    def start(self, cmd: c.StartWork, uow: UnitOfWork) -> c.Outcome:
        return self._decide(uow, cmd, lambda comp, actor, at: comp.start_work(actor, at))

    def respond(self, cmd: c.Respond, uow: UnitOfWork) -> c.Outcome:
        return self._decide(
            uow,
            cmd,
            lambda comp, actor, at: comp.respond(
                actor,
                at,
                kind=cmd.kind,
                text=cmd.text,
                follow_up_due_at=self._due(at, ClockKind.FOLLOW_UP),
                auto_resolve_due_at=self._due(at, ClockKind.AUTO_RESOLVE),
                min_answer_chars=self.settings.answer_min_chars,
            ),
        )

    # ================================================================ reporters
    def reply(self, cmd: c.Reply, uow: UnitOfWork) -> c.Outcome:
        return self._decide(
            uow,
            cmd,
            lambda comp, actor, at: comp.reply(
                actor,
                at,
                kind=cmd.kind,
                text=cmd.text,
                follow_up_due_at=self._due(at, ClockKind.FOLLOW_UP),
                auto_resolve_due_at=self._due(at, ClockKind.AUTO_RESOLVE),
            ),
        )

    # ================================================================ closing
    def resolve(self, cmd: c.Resolve, uow: UnitOfWork) -> c.Outcome:
        return self._decide(
            uow,
            cmd,
            lambda comp, actor, at: comp.resolve(
                actor,
                at,
                mode=cmd.mode,
                note=cmd.note,
                min_answer_chars=self.settings.answer_min_chars,
            ),
        )

    def reopen(self, cmd: c.Reopen, uow: UnitOfWork) -> c.Outcome:
        return self._decide(
            uow,
            cmd,
            lambda comp, actor, at: comp.reopen(
                actor,
                at,
                reason=cmd.reason,
                window_days=self.policy.reopen_window_days,
                follow_up_due_at=self._due(at, ClockKind.FOLLOW_UP),
            ),
        )

    def change_visibility(self, cmd: c.ChangeVisibility, uow: UnitOfWork) -> c.Outcome:
        return self._decide(
            uow,
            cmd,
            lambda comp, actor, at: comp.change_visibility(
                actor, at, visibility=cmd.visibility, reason=cmd.reason
            ),
        )

    # ================================================================ SLA ladder
    def warn_sla(self, cmd: c.WarnSla, uow: UnitOfWork) -> c.Outcome:
        return self._decide(
            uow,
            cmd,
            lambda comp, actor, at: comp.warn_sla(actor, at, clock=cmd.clock, due_at=cmd.due_at),
        )

    def breach_sla(self, cmd: c.BreachSla, uow: UnitOfWork) -> c.Outcome:
        return self._decide(
            uow,
            cmd,
            lambda comp, actor, at: comp.breach_sla(actor, at, clock=cmd.clock, due_at=cmd.due_at),
        )

    def escalate(self, cmd: c.Escalate, uow: UnitOfWork) -> c.Outcome:
        def decide(comp: Complaint, actor: Actor, at: datetime) -> None:
            to_agency = NATIONAL_DESK
            if cmd.level == "parent":
                holder = self._agency_ref(comp.holder, uow) if comp.holder else None
                to_agency = holder.parent if holder and holder.parent else NATIONAL_DESK
            comp.escalate(
                actor, at, level=cmd.level, to_agency=to_agency, clock=cmd.clock, due_at=cmd.due_at
            )

        return self._decide(uow, cmd, decide)

    # ================================================================ privacy
    def erase_reporter(self, cmd: c.EraseReporter, uow: UnitOfWork) -> c.Outcome:
        """Crypto-shred: decide, delete the reporter's keys, then record it everywhere."""
        actor, at = self._actor(cmd), self._at(cmd)
        reporter_ref = self._erasure_ref(cmd, actor)
        reporter = uow.get(reporter_id_for(reporter_ref), Reporter)
        if reporter is None:
            raise NotFound(f"no reporter {reporter_ref}", reporter_ref=reporter_ref)
        reporter.erase(actor, at, cmd.reason)  # refuses before anything is destroyed
        # Keys next: once they are gone the identity is unreadable, whatever happens after.
        deleted = self.vault.erase(reporter_ref)
        affected = 0
        for complaint_id in reporter.complaint_ids:
            complaint = uow.get(complaint_id, Complaint)
            if complaint is None or complaint.identity_erased:
                continue
            self._save_retrying(
                uow,
                complaint_id,
                lambda comp: comp.erase_reporter(actor, self._at(cmd), reason=cmd.reason),
                first=complaint,
            )
            affected += 1
        self._record_erasure(uow, reporter, actor, cmd)
        log.info(
            "reporter.erased",
            reporter_ref=reporter_ref,
            keys_deleted=deleted,
            complaints=affected,
        )
        return c.Outcome(command="erase_reporter", reporter_ref=reporter_ref, affected=affected)

    def _erasure_ref(self, cmd: c.EraseReporter, actor: Actor) -> str:
        """The pseudonym to erase: given, or derived from the phone or social-media account
        the reporter filed with, as filing derived it. Who acts is checked first, so no one
        else learns from not_found whether a phone number or an account ever filed."""
        if cmd.reporter_ref is not None:
            return cmd.reporter_ref
        if actor.role not in (Role.NATIONAL_ADMIN, Role.SYSTEM):
            raise NotAuthorized("only the national desk erases a reporter's identity")
        handle = cmd.social_handle
        return self.vault.reporter_ref(
            ReporterIdentity(
                phone=cmd.phone,
                social_handle=None if handle is None else handle.model_dump(),
            )
        )

    def _record_erasure(
        self, uow: UnitOfWork, reporter: Reporter, actor: Actor, cmd: c.EraseReporter
    ) -> None:
        """The erasure is already effective (keys gone); make sure it is also recorded."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                uow.save(reporter)
                return
            except IntegrityError:  # the reporter filed again meanwhile: decide again
                backoff(attempt)
                fresh = uow.get(reporter.id, Reporter)
                assert fresh is not None, "a reporter is never deleted"
                reporter = fresh
                reporter.erase(actor, self._at(cmd), cmd.reason)
        raise Conflict(f"could not record the erasure of {reporter.reporter_ref}")

    # ================================================================ directory
    def register_agency(self, cmd: c.RegisterAgency, uow: UnitOfWork) -> c.Outcome:
        self.register_agencies([cmd], uow)
        agency = self._agency(cmd.code, uow)
        return c.Outcome(command="register_agency", agency=agency.code, version=agency.version)

    def register_agencies(
        self, cmds: Sequence[c.RegisterAgency], uow: UnitOfWork | None = None
    ) -> tuple[int, int]:
        """Register (or update) many agencies in one transaction. Returns (new, updated).

        Parents may be earlier in the same batch. Re-loading an unchanged directory is a no-op.
        """
        uow = uow or self.immediate
        pending: dict[str, Agency] = {}
        new = updated = 0
        listed: list[str] = []
        for cmd in cmds:
            actor, at = self._actor(cmd), self._at(cmd)
            existing = pending.get(cmd.code) or uow.get(agency_id_for(cmd.code), Agency)
            if existing is not None:
                if existing.kind != cmd.kind or existing.parent != cmd.parent:
                    raise RuleViolation(
                        f"agency {cmd.code} is already registered as a {existing.kind} under "
                        f"{existing.parent}; moving an agency is not supported",
                        code=cmd.code,
                    )
                if existing.update(actor, at, name=cmd.name, region=cmd.region):
                    pending[cmd.code] = existing
                    updated += 1
                continue
            parent: AgencyRef | None = None
            if cmd.parent:
                parent_agency = pending.get(cmd.parent) or uow.get(
                    agency_id_for(cmd.parent), Agency
                )
                if parent_agency is None:
                    raise UnknownAgency(cmd.parent)
                parent = parent_agency.ref
            pending[cmd.code] = Agency.register(
                actor,
                at,
                code=cmd.code,
                name=cmd.name,
                kind=AgencyKind(cmd.kind),
                parent=parent,
                region=cmd.region,
            )
            listed.append(cmd.code)
            new += 1
        last = self.agency_log.get_last()
        next_version = (last.originator_version + 1) if last else 1
        entries = [
            self.agency_log.trigger_event(next_originator_version=next_version + i, code=code)
            for i, code in enumerate(listed)
        ]
        uow.save(*pending.values(), *entries)
        log.info("agencies.registered", new=new, updated=updated)
        return new, updated

    def agency(self, code: str) -> Agency:
        return self._agency(code, self.immediate)

    def agencies(self) -> Iterator[Agency]:
        for entry in self.agency_log.get():
            yield self.repository.get(agency_id_for(entry.code))

    # ================================================================ queries
    def complaint_id_for(self, tracking_id: str) -> UUID:
        """The id of complaint `tracking_id` in this store (derived in its own namespace)."""
        return complaint_id_for(tracking_id, self.complaint_namespace)

    @functools.cached_property
    def complaint_namespace(self) -> UUID:
        """This store's namespace for complaint ids (aggregates.deployment): recorded once, by
        the first process that needs it, and read by every later one."""
        for attempt in range(MAX_ATTEMPTS):
            try:
                found: Deployment = self.repository.get(DEPLOYMENT_ID)
                return found.complaint_namespace
            except AggregateNotFoundError:
                pass
            # A store that already holds complaints was made with the one shared namespace:
            # keep it, so each of its tracking ids keeps its UUID.
            shared = self._holds_complaints()
            deployment = Deployment(
                complaint_namespace=SHARED_COMPLAINT_NAMESPACE if shared else uuid4(),
                adopted_shared=shared,
            )
            try:
                self.save(deployment)
            except IntegrityError:  # another process recorded it first: read theirs
                backoff(attempt)
                continue
            log.info("deployment.recorded", adopted_shared=shared)
            return deployment.complaint_namespace
        raise Conflict("could not read or record this store's complaint namespace")

    def _holds_complaints(self) -> bool:
        filed = [get_topic(Complaint.Filed)]
        return bool(
            self.recorder.select_notifications(
                start=0, limit=1, topics=filed, inclusive_of_start=False
            )
        )

    def complaint(self, ref: str) -> Complaint:
        return self._complaint(ref, self.immediate)

    def complaint_exists(self, ref: str) -> bool:
        try:
            self._complaint(ref, self.immediate)
        except NotFound:
            return False
        return True

    def history(self, complaint_id: UUID) -> list[Complaint.Event]:
        return list(self.repository.event_store.get(complaint_id))  # type: ignore[arg-type]

    def clock_view(self, complaint: Complaint, now: datetime | None = None) -> ClockView | None:
        if complaint.clock is None or complaint.clock_started_at is None:
            return None
        kind = ClockKind(complaint.clock)
        clock = SlaClock(
            kind=kind,
            started_at=complaint.clock_started_at,
            limit_days=self.policy.limit_for(kind),
            due_at=complaint.due_at,
            paused_at=complaint.clock_paused_at if complaint.due_at is None else None,
            remaining_days=complaint.paused_remaining_days or 0,
        )
        status = clock_status(clock, now or self.now(), self.calendar, policy=self.policy)
        return ClockView(
            kind=kind,
            started_at=complaint.clock_started_at,
            due_at=status.due_at,
            paused=status.paused,
            working_days_left=status.working_days_left,
            overdue=status.overdue,
            warn_at=status.warn_at,
        )

    def identity(self, complaint: Complaint) -> ReporterIdentity | None:
        """The reporter's identity, or None once erased. Callers apply visibility rules."""
        if complaint.identity_erased:
            return None
        return self.vault.open(complaint.reporter_ref, complaint.sealed_identity)

    # ================================================================ helpers
    def _decide(
        self,
        uow: UnitOfWork,
        cmd: c.OnComplaint,
        decide: Callable[[Complaint, Actor, datetime], None],
    ) -> c.Outcome:
        actor = self._actor(cmd)
        complaint = self._complaint(cmd.complaint, uow)
        with structlog.contextvars.bound_contextvars(
            complaint_id=str(complaint.id),
            tracking_id=complaint.tracking_id,
            # Staff principals by name; a reporter's id is their pseudonymous reference,
            # which logs must not carry (it links a reporter's complaints).
            principal=None if actor.role == Role.REPORTER else actor.id,
        ):
            saved = self._save_retrying(
                uow,
                complaint.id,
                # `at` is read at each attempt: see _at.
                lambda comp: decide(comp, actor, self._at(cmd)),
                first=complaint,
                expected_version=cmd.expected_version,
            )
            log.info(
                f"complaint.{cmd.command}",
                version=saved.version,
                state=str(saved.state),
                role=str(actor.role),
                agency=actor.agency,
            )
            return self._outcome(cmd, saved)

    def _save_retrying(
        self,
        uow: UnitOfWork,
        complaint_id: UUID,
        decide: Callable[[Complaint], None],
        *,
        first: Complaint,
        expected_version: int | None = None,
    ) -> Complaint:
        complaint = first
        for attempt in range(MAX_ATTEMPTS):
            self._require_version(complaint, expected_version)
            decide(complaint)
            try:
                uow.save(complaint)
                return complaint
            except IntegrityError:
                # Someone else saved first (only an Immediate save raises): decide again on
                # the fresh state (the version check above tells a client that named the
                # version it decided on).
                backoff(attempt)
                fresh = uow.get(complaint_id, Complaint)
                assert fresh is not None, "a complaint is never deleted"
                complaint = fresh
        raise Conflict(f"complaint {complaint.tracking_id} is too busy: retry later")

    @staticmethod
    def _require_version(complaint: Complaint, expected_version: int | None) -> None:
        if expected_version is not None and complaint.version != expected_version:
            raise Conflict(
                f"complaint {complaint.tracking_id} is at version {complaint.version}, "
                f"not {expected_version}",
                current_version=complaint.version,
                expected_version=expected_version,
            )

    def _complaint(self, ref: str, uow: UnitOfWork) -> Complaint:
        complaint_id = self.complaint_id_for(ref) if ref.startswith("LAP-") else UUID(ref)
        complaint = uow.get(complaint_id, Complaint)
        if complaint is None:
            raise NotFound(f"no complaint {ref}", complaint=ref)
        return complaint

    def _agency(self, code: str, uow: UnitOfWork) -> Agency:
        agency = uow.get(agency_id_for(code), Agency)
        if agency is None:
            raise UnknownAgency(code)
        return agency

    def _agency_ref(self, code: str, uow: UnitOfWork) -> AgencyRef:
        """Routing facts of an agency. Cached: an agency's kind and parent never change."""
        ref = self._agency_refs.get(code)
        if ref is None:
            ref = self._agency_refs[code] = self._agency(code, uow).ref
        return ref

    def _due(self, at: datetime, kind: ClockKind) -> datetime:
        return self.calendar.add_working_days(at, self.policy.limit_for(kind))

    def _actor(self, cmd: c.Base) -> Actor:
        return Actor(id=cmd.actor.id, role=cmd.actor.role, agency=cmd.actor.agency)

    def _at(self, cmd: c.Base) -> datetime:
        """The command's business time: the `at` it gave, else now.

        Read afresh at each attempt of a decision: a command that lost a race is decided
        again now, after the winner's event (a "now" read before the race would be earlier
        than the winner's and break the time rule). An explicit `at` is kept as given.
        """
        return (cmd.at or self.now()).astimezone(UTC)

    def _outcome(
        self,
        cmd: c.Base,
        complaint: Complaint,
        *,
        reporter_ref: str | None = None,
        duplicate: bool | None = None,
    ) -> c.Outcome:
        return c.Outcome(
            command=cmd.command,
            complaint_id=str(complaint.id),
            tracking_id=complaint.tracking_id,
            version=complaint.version,
            state=str(complaint.state),
            reporter_ref=reporter_ref,
            duplicate=duplicate,
        )


Handler = Callable[[LaporApp, Any, UnitOfWork], c.Outcome]

# Dispatch by the command's type (cosmicpython's COMMAND_HANDLERS), not by its name.
HANDLERS: dict[type[c.Base], Handler] = {
    c.FileComplaint: LaporApp.file,
    c.Verify: LaporApp.verify,
    c.Postpone: LaporApp.postpone,
    c.Supplement: LaporApp.supplement,
    c.Archive: LaporApp.archive,
    c.Merge: LaporApp.merge,
    c.Forward: LaporApp.forward,
    c.Decline: LaporApp.decline,
    c.StartWork: LaporApp.start,
    c.Respond: LaporApp.respond,
    c.Reply: LaporApp.reply,
    c.Resolve: LaporApp.resolve,
    c.Reopen: LaporApp.reopen,
    c.ChangeVisibility: LaporApp.change_visibility,
    c.WarnSla: LaporApp.warn_sla,
    c.BreachSla: LaporApp.breach_sla,
    c.Escalate: LaporApp.escalate,
    c.EraseReporter: LaporApp.erase_reporter,
    c.RegisterAgency: LaporApp.register_agency,
}
