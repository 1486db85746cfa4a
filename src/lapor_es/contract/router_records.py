"""What the agency router keeps on its own topics: state, control commands, dead letters.

These topics are the router's, not an agency's (an agency's credentials cannot read them),
but operators read them (`lapor-es feeds dlq ...`) and the AsyncAPI document describes them,
so their record shapes live here beside the feed contract:

- `<router topics>.state.v1` (compacted): key = complaint id, value = `ComplaintRoute` JSON,
  the router's routing state of that complaint;
- `<router topics>.control.v1`: value = `RetryCommand` JSON (no key);
- `<router topics>.dlq.v1`: a record that could not be routed, or one waiting behind it: the
  input record's key, value and headers unchanged, plus the `DEAD_LETTER_HEADERS`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ParkedRecord(BaseModel):
    """A record the router could not process, or one waiting behind it; kept in router state
    so a retry can replay it in order (bytes as latin-1 text: any value round-trips)."""

    model_config = ConfigDict(frozen=True)

    topic: str
    partition: int
    offset: int
    value: str
    headers: list[tuple[str, str]]
    error: str | None = Field(description="why it failed; null: it waits behind another")


class Content(BaseModel):
    filed_at: datetime
    kind: Literal["complaint", "aspiration", "information_request"]
    channel: Literal["web", "sms-1708", "android", "ios", "social", "api"]
    title: str
    description: str
    category: str | None
    location: str | None
    visibility: Literal["public", "anonymous", "confidential"]
    supplements: list[str] = Field(default_factory=list)


class ComplaintRoute(BaseModel):
    """Router state of one complaint (the value of its record on the state topic)."""

    tracking_id: str | None = None
    version: int = 0
    chain: list[str] = Field(default_factory=list)
    content: Content | None = None
    parked: list[ParkedRecord] = Field(default_factory=list)


class RetryCommand(BaseModel):
    """Replay parked records: of one complaint, or of every blocked complaint."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    command: Literal["retry"] = "retry"
    complaint_id: str | None = Field(None, description="null: every blocked complaint")
    skip_failed: bool = Field(
        False, description="drop each complaint's failed record and replay the rest"
    )


DEAD_LETTER_HEADERS: dict[str, str] = {
    "dlq_error": "why the record was parked (exception type and message); for a record "
    "waiting behind an earlier one: 'waiting behind an earlier parked record'",
    "dlq_blocked": "'true': the record itself is fine but waits behind an earlier parked "
    "record of its complaint; 'false': this record failed",
    "dlq_topic": "topic the record was read from",
    "dlq_partition": "its partition (decimal)",
    "dlq_offset": "its offset (decimal)",
}
