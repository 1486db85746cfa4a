"""The feed events the router adds are part of the published schemas."""

from __future__ import annotations

from lapor_es.contract.feeds import FEED_MODELS, feed_ce_type
from lapor_es.contract.schemas import schema_documents


def test_feed_events_have_schemas() -> None:
    names = set(schema_documents())
    assert {f"{feed_ce_type(n)}.json" for n in FEED_MODELS} <= names
    assert {
        "id.go.lapor.agency.complaint_assigned.v1.json",
        "id.go.lapor.agency.complaint_left.v1.json",
    } <= names
