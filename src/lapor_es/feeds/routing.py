"""Which agency feeds get what, per complaint event: a pure function over a small state.

The state of one complaint is its holder chain (the forwarding path from the top-level
agency down to the holder), the content an assignment shows, the last version seen, and the
records parked for it. The audience of a complaint is the set of agencies on its chain: the
domain only lets the desk forward to top-level agencies and an agency forward to its own
units, so the chain always contains every ancestor of the holder ("a parent sees its units'
complaints") without the router needing the directory. This is the same rule as
views.check_access.
"""

from __future__ import annotations

from dataclasses import dataclass

from lapor_es.contract.cloudevents import Delivered
from lapor_es.contract.feeds import (
    ANONYMOUS_DISPLAY,
    ComplaintAssigned,
    ComplaintLeft,
    FeedPayload,
    LeftReason,
)
from lapor_es.contract.payloads import (
    Archived,
    Filed,
    Forwarded,
    ForwardingDeclined,
    InformationSupplemented,
    Merged,
    Verified,
    VisibilityChanged,
)
from lapor_es.contract.router_records import ComplaintRoute as ComplaintRoute
from lapor_es.contract.router_records import Content as Content
from lapor_es.contract.router_records import ParkedRecord as ParkedRecord
from lapor_es.readmodels.lifecycle import chain_after


class RoutingError(ValueError):
    """The event cannot be applied to the state (gap in versions, unknown holder, ...)."""


@dataclass(frozen=True)
class ToFeed:
    """One output: a router-made feed event, or (payload None) the input record passed on."""

    agency: str
    payload: FeedPayload | None


def route(state: ComplaintRoute, event: Delivered) -> list[ToFeed]:
    """Apply `event` to `state` (in place) and return the feed outputs, in order.

    A version already seen is a redelivery and yields nothing; a version gap raises, so a
    lost record can never be papered over.
    """
    p = event.payload
    if p.version <= state.version:
        return []
    if p.version != state.version + 1:
        raise RoutingError(f"version {p.version} after {state.version}: a record is missing")
    before = list(state.chain)
    reason: LeftReason = "reforwarded"
    if isinstance(p, Filed):
        state.content = Content(
            filed_at=p.at,
            kind=p.kind,
            channel=p.channel,
            title=p.title,
            description=p.description,
            category=p.category,
            location=p.location,
            visibility=p.visibility,
        )
    elif state.content is None:
        raise RoutingError(f"{p.type} before Filed")
    elif isinstance(p, Verified):
        state.content = state.content.model_copy(
            update={"title": p.title, "category": p.category, "kind": p.kind}
            | {"visibility": p.visibility}
        )
    elif isinstance(p, VisibilityChanged):
        state.content = state.content.model_copy(update={"visibility": p.new})
    elif isinstance(p, InformationSupplemented):
        state.content = state.content.model_copy(
            update={"supplements": [*state.content.supplements, p.text]}
        )
    elif isinstance(p, Forwarded | ForwardingDeclined):
        try:
            state.chain = list(chain_after(tuple(state.chain), p))
        except ValueError as exc:
            raise RoutingError(str(exc)) from exc
        if isinstance(p, ForwardingDeclined):
            reason = "declined"
    elif isinstance(p, Archived | Merged):
        state.chain = []
        reason = "archived" if isinstance(p, Archived) else "merged"
    state.version = p.version
    state.tracking_id = p.tracking_id

    after = set(state.chain)
    out: list[ToFeed] = []
    for agency in before:  # stays or leaves: it sees the event itself first
        out.append(ToFeed(agency, None))
        if agency not in after:
            out.append(ToFeed(agency, left(p.complaint_id, agency, event, reason)))
    for agency in state.chain:
        if agency not in before and isinstance(p, Forwarded):
            out.append(ToFeed(agency, assigned(state, agency, p)))
    return out


def left(complaint_id: str, agency: str, event: Delivered, reason: LeftReason) -> ComplaintLeft:
    p = event.payload
    return ComplaintLeft(
        type="ComplaintLeft",
        complaint_id=complaint_id,
        tracking_id=p.tracking_id,
        agency=agency,
        version=p.version,
        at=p.at,
        event_hash=p.event_hash,
        reason=reason,
    )


def assigned(state: ComplaintRoute, agency: str, p: Forwarded) -> ComplaintAssigned:
    content = state.content
    assert content is not None  # route() rejects anything but Filed before content exists
    return ComplaintAssigned(
        type="ComplaintAssigned",
        complaint_id=p.complaint_id,
        tracking_id=p.tracking_id,
        agency=agency,
        version=p.version,
        at=p.at,
        event_hash=p.event_hash,
        holder=p.to_agency,
        holder_chain=list(state.chain),
        from_agency=p.from_agency,
        level=p.level,
        note=p.note,
        follow_up_due_at=p.follow_up_due_at,
        filed_at=content.filed_at,
        kind=content.kind,
        channel=content.channel,
        title=content.title,
        description=content.description,
        category=content.category,
        location=content.location,
        supplements=list(content.supplements),
        visibility=content.visibility,
        reporter_display=ANONYMOUS_DISPLAY if content.visibility == "anonymous" else None,
    )
