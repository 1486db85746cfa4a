"""As-of replay: every complaint's state as it was at a given time, from events only.

Two sources, one result type. From the store the Complaint aggregate itself is rebuilt by
applying its own events with `at <= T` (so the state is exactly what the application
computed then). From the topic there is no aggregate, only published payloads, so a small
pure reducer (`apply_payload`) mirrors the aggregate's `apply` methods field for field;
a test keeps the two in step. Events are in version order and time never rewinds within a
complaint, so "as of T" is a prefix of each complaint's history.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper

from lapor_es.aggregates import Complaint
from lapor_es.aggregates.values import LAPOR_BUCKET, ComplaintState
from lapor_es.contract.payloads import PAYLOAD_ADAPTER
from lapor_es.kafka import clients
from lapor_es.kafka.loop import ConsumerLoop, UpTo, bounded_opener
from lapor_es.kafka.relay import complaint_event_topics
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.readmodels.lifecycle import chain_after

S = ComplaintState


@dataclass(frozen=True)
class AsOfState:
    complaint_id: str
    tracking_id: str
    version: int
    state: str
    holder_chain: tuple[str, ...]
    visibility: str
    clock: str | None  # verification, follow_up, auto_resolve; None: stopped
    clock_started_at: datetime | None
    due_at: datetime | None  # None while paused or stopped
    paused_remaining_days: int | None
    filed_at: datetime
    last_event_at: datetime
    resolved_at: datetime | None = None

    @property
    def bucket(self) -> str:
        return LAPOR_BUCKET[ComplaintState(self.state)]

    @property
    def holder(self) -> str | None:
        return self.holder_chain[-1] if self.holder_chain else None

    def overdue(self, as_of: datetime) -> bool:
        return self.due_at is not None and self.due_at < as_of

    def as_dict(self, as_of: datetime) -> dict[str, Any]:
        out = {
            k: v.astimezone(UTC).isoformat() if isinstance(v, datetime) else v
            for k, v in asdict(self).items()
        }
        out["holder_chain"] = list(self.holder_chain)
        out["bucket"] = self.bucket
        out["holder"] = self.holder
        out["overdue"] = self.overdue(as_of)
        return out


def from_aggregate(c: Complaint) -> AsOfState:
    return AsOfState(
        complaint_id=str(c.id),
        tracking_id=c.tracking_id,
        version=c.version,
        state=str(c.state),
        holder_chain=tuple(c.holder_chain),
        visibility=str(c.visibility),
        clock=c.clock,
        clock_started_at=c.clock_started_at,
        due_at=c.due_at,
        paused_remaining_days=c.paused_remaining_days,
        filed_at=c.filed_at,
        last_event_at=c.last_event_at,
        resolved_at=c.resolved_at,
    )


# ------------------------------------------------------------------ the pure reducer
def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def _clock(state: AsOfState, clock: str, at: datetime, due: datetime | None) -> AsOfState:
    return replace(state, clock=clock, clock_started_at=at, due_at=due, paused_remaining_days=None)


def _stopped(state: AsOfState) -> AsOfState:
    return replace(
        state, clock=None, clock_started_at=None, due_at=None, paused_remaining_days=None
    )


def apply_payload(state: AsOfState | None, p: Mapping[str, Any]) -> AsOfState:
    """The state after one published event (the mirror of Complaint's `apply` methods)."""
    kind, at = p["type"], _time(p["at"])
    assert at is not None
    if kind == "Filed":
        return AsOfState(
            complaint_id=p["complaint_id"],
            tracking_id=p["tracking_id"],
            version=1,
            state=S.SUBMITTED,
            holder_chain=(),
            visibility=p["visibility"],
            clock="verification",
            clock_started_at=at,
            due_at=_time(p["verification_due_at"]),
            paused_remaining_days=None,
            filed_at=at,
            last_event_at=at,
        )
    if state is None:
        raise ValueError(f"{kind} v{p['version']} of {p['complaint_id']} before its filing")
    s = replace(state, version=p["version"], last_event_at=at)
    if kind == "Postponed":
        s = replace(s, state=S.POSTPONED, due_at=None, paused_remaining_days=p["remaining_days"])
    elif kind == "InformationSupplemented":
        s = replace(
            _clock(s, "verification", at, _time(p["verification_due_at"])), state=S.SUBMITTED
        )
    elif kind in ("Archived", "Merged"):
        # A duplicate merged after forwarding leaves its agency (lifecycle.chain_after).
        s = replace(_stopped(s), state=S.ARCHIVED, holder_chain=())
    elif kind == "Verified":
        s = replace(s, visibility=p["visibility"])
    elif kind == "Forwarded":
        chain = chain_after(s.holder_chain, PAYLOAD_ADAPTER.validate_python(p))
        s = replace(_clock(s, "follow_up", at, _time(p["follow_up_due_at"])), holder_chain=chain)
        s = replace(s, state=S.IN_PROGRESS if p.get("work_continues") else S.FORWARDED)
    elif kind == "ForwardingDeclined":
        chain = chain_after(s.holder_chain, PAYLOAD_ADAPTER.validate_python(p))
        s = replace(s, holder_chain=chain)
        if p["returned_to"] is None:
            s = _clock(s, "verification", at, _time(p["verification_due_at"]))
            s = replace(s, state=S.SUBMITTED)
        else:
            s = replace(s, state=S.FORWARDED)
    elif kind == "WorkStarted":
        s = replace(s, state=S.IN_PROGRESS)
    elif kind == "Responded":
        if p["kind"] == "final":
            s = _clock(s, "auto_resolve", at, _time(p["auto_resolve_due_at"]))
            s = replace(s, state=S.RESPONDED)
        else:
            s = replace(
                _clock(s, "follow_up", at, _time(p["follow_up_due_at"])), state=S.IN_PROGRESS
            )
    elif kind == "ReporterReplied":
        if p["follow_up_due_at"] is not None:
            s = replace(
                _clock(s, "follow_up", at, _time(p["follow_up_due_at"])), state=S.IN_PROGRESS
            )
        elif p["auto_resolve_due_at"] is not None:
            s = replace(s, clock_started_at=at, due_at=_time(p["auto_resolve_due_at"]))
    elif kind == "Resolved":
        s = replace(_stopped(s), state=S.RESOLVED, resolved_at=at)
    elif kind == "Reopened":
        s = replace(_clock(s, "follow_up", at, _time(p["follow_up_due_at"])), state=S.IN_PROGRESS)
        s = replace(s, resolved_at=None)
    elif kind == "VisibilityChanged":
        s = replace(s, visibility=p["new"])
    # SlaWarned, SlaBreached, Escalated, ReporterErased and DuplicateMerged (the original
    # carries on) change none of these fields.
    return s


# ------------------------------------------------------------------ selection
@dataclass(frozen=True)
class Selection:
    """Which complaints: all, one (by id), or one agency's inbox as of T."""

    complaint_id: str | None = None
    agency: str | None = None

    def wants(self, complaint_id: str) -> bool:
        return self.complaint_id is None or complaint_id == self.complaint_id

    def keeps(self, state: AsOfState) -> bool:
        return self.agency is None or self.agency in state.holder_chain


@dataclass
class Replayed:
    as_of: datetime
    states: dict[str, AsOfState] = field(default_factory=dict)
    events: int = 0  # events applied (at <= as_of)

    def selected(self, selection: Selection) -> list[AsOfState]:
        return sorted(
            (s for s in self.states.values() if selection.keeps(s)), key=lambda s: s.tracking_id
        )


# ------------------------------------------------------------------ from the store
def replay_store(
    recorder: ApplicationRecorder,
    mapper: Mapper[Any],
    as_of: datetime,
    selection: Selection = Selection(),
    *,
    get_history: Callable[[UUID], Iterable[Any]] | None = None,
) -> Replayed:
    """Rebuild each complaint's aggregate from its stored events with `at <= as_of`.

    One complaint: its own history (`get_history`, e.g. the event store's `get`); all of
    them: one pass over the notification log.
    """
    out = Replayed(as_of)
    aggregates: dict[str, Complaint] = {}
    done: set[str] = set()  # complaints that reached as_of: their later events are skipped

    def feed(event: Any) -> None:
        cid = str(event.originator_id)
        if cid in done or not selection.wants(cid):
            return
        if event.at > as_of:
            done.add(cid)
            return
        aggregates[cid] = event.mutate(aggregates.get(cid))
        out.events += 1

    if selection.complaint_id is not None and get_history is not None:
        for event in get_history(UUID(selection.complaint_id)):
            feed(event)
    else:
        for event in _stored_complaint_events(recorder, mapper):
            feed(event)
    out.states = {cid: from_aggregate(c) for cid, c in aggregates.items()}
    return out


def _stored_complaint_events(recorder: ApplicationRecorder, mapper: Mapper[Any]) -> Iterator[Any]:
    topics = complaint_event_topics()
    start = 0
    while page := recorder.select_notifications(
        start=start, limit=2000, topics=topics, inclusive_of_start=False
    ):
        for notification in page:
            yield mapper.to_domain_event(notification)
        start = page[-1].id


# ------------------------------------------------------------------ from the topic
def replay_topic(
    kafka: KafkaSettings, as_of: datetime, selection: Selection = Selection()
) -> Replayed:
    """Reduce the published payloads with `at <= as_of`, partition by partition."""
    import json

    out = Replayed(as_of)
    done: set[str] = set()
    ranges: list[UpTo] = []
    loop = ConsumerLoop(
        f"as-of replay of {kafka.topic}",
        bounded_opener(
            lambda: clients.consumer(kafka, client_id=f"{kafka.client_id}-audit-replay"),
            kafka.topic,
            on_range=ranges.append,
        ),
        liveness=kafka.liveness,
        max_records=10_000,
    )
    with loop:
        loop.consumer  # noqa: B018  (opens it: fixes the range, or raises LookupError)
        for batch in loop.batches(until=lambda consumer: ranges[0].reached(consumer)):
            for tp, records in batch.items():
                for record in records:
                    if not ranges[0].within(tp, record.offset):
                        continue
                    payload = json.loads(record.value)
                    cid = payload["complaint_id"]
                    if cid in done or not selection.wants(cid):
                        continue
                    at = _time(payload["at"])
                    if at is None or at > as_of:
                        done.add(cid)
                        continue
                    held = out.states.get(cid)
                    if held is not None and payload["version"] <= held.version:
                        continue  # a re-delivery (same ce_id): already applied
                    out.states[cid] = apply_payload(held, payload)
                    out.events += 1
    return out
