"""The agency feed contract: what an agency backend receives on its own topic.

A feed topic (`lapor.agency.<CODE>.v1`) carries, per complaint and in order:

1. `id.go.lapor.agency.complaint_assigned.v1` when the complaint comes to the agency (or to
   one of its units): the complaint's content as the agency may see it;
2. the complaint's own events (`id.go.lapor.complaint.*.v1`), payload and headers unchanged
   from lapor.complaints.v1, while the agency holds it;
3. `id.go.lapor.agency.complaint_left.v1` when it leaves the agency, and nothing after (until
   it is assigned to the agency again, which starts a new 1-2-3).

Identity never reaches Kafka, so the assignment carries the visibility and the reporter's
display name only where that name is fixed by the rules ("Anonim" for anonymous reports).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from lapor_es.contract.payloads import Hash

FEED_SOURCE = "/lapor-es/agency-router"
FEED_TYPE_PREFIX = "id.go.lapor.agency."
ANONYMOUS_DISPLAY = "Anonim"

Visibility = Literal["public", "anonymous", "confidential"]
LeftReason = Literal["declined", "reforwarded", "archived", "merged"]


class FeedPayload(BaseModel):
    """Fields of both router-made feed events."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    complaint_id: str = Field(description="UUID of the complaint; also the Kafka record key")
    tracking_id: str = Field(description="the citizen-facing id, e.g. LAP-2026-0000123")
    agency: str = Field(description="the agency whose feed this is")
    version: int = Field(ge=1, description="version of the complaint event that caused this")
    at: datetime = Field(description="business time of that event (UTC)")
    event_hash: Hash = Field(description="event_hash of that event (ties this to the chain)")


class ComplaintAssigned(FeedPayload):
    """The complaint came to this agency (or to one of its units)."""

    type: Literal["ComplaintAssigned"]
    holder: str = Field(description="who holds it now: this agency or one of its units")
    holder_chain: list[str] = Field(
        description="forwarding path from the top-level agency down to the holder"
    )
    from_agency: str | None = Field(description="who forwarded it; null: the national desk")
    level: Literal["agency", "unit"]
    note: str = Field(description="the forwarder's note, may be empty")
    follow_up_due_at: datetime = Field(description="the holder's follow-up deadline")
    filed_at: datetime
    kind: Literal["complaint", "aspiration", "information_request"]
    channel: Literal["web", "sms-1708", "android", "ios", "social", "api"]
    title: str
    description: str
    category: str | None
    location: str | None
    supplements: list[str] = Field(description="information the reporter added, in order")
    visibility: Visibility
    reporter_display: str | None = Field(
        description='"Anonim" for anonymous reports; null otherwise (identity is never on '
        "Kafka: an agency that may see it looks it up through the application)"
    )


class ComplaintLeft(FeedPayload):
    """The complaint left this agency: nothing more about it arrives on this feed."""

    type: Literal["ComplaintLeft"]
    reason: LeftReason = Field(
        description="declined: declined by this agency or the unit holding it; reforwarded: "
        "forwarded elsewhere; archived/merged: closed by the desk"
    )


FEED_MODELS: dict[str, type[FeedPayload]] = {
    model.__name__: model for model in (ComplaintAssigned, ComplaintLeft)
}
AnyFeedPayload = Annotated[ComplaintAssigned | ComplaintLeft, Field(discriminator="type")]
FEED_ADAPTER: TypeAdapter[AnyFeedPayload] = TypeAdapter(AnyFeedPayload)


def feed_ce_type(payload_type: str) -> str:
    """`ComplaintAssigned` -> `id.go.lapor.agency.complaint_assigned.v1`."""
    from lapor_es.contract.cloudevents import snake

    return f"{FEED_TYPE_PREFIX}{snake(payload_type)}.v1"


def feed_ce_id(payload: FeedPayload) -> str:
    """Stable per feed event: a redelivery carries the same id (dedupe on it)."""
    suffix = "assigned" if isinstance(payload, ComplaintAssigned) else "left"
    return f"{payload.complaint_id}:{payload.version}:{suffix}"


def feed_topic(prefix: str, agency: str) -> str:
    """`lapor.agency.` + `KEMENKES.YANKES` -> `lapor.agency.KEMENKES.YANKES.v1`.

    Agency codes are `[A-Z0-9][A-Z0-9.-]*`, all legal in topic names. ACLs on feeds must be
    LITERAL: a prefix ACL on `lapor.agency.KEMENKES` would also cover its units' feeds.
    """
    return f"{prefix}{agency}.v1"
