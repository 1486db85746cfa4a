"""The agency feed contract: schemas in docs are fresh; routing rules on hand-made events."""

from __future__ import annotations

from pathlib import Path

from lapor_es.contract.feed_schemas import feed_schema_documents, stale_feed_schemas
from lapor_es.contract.feeds import feed_ce_type, feed_topic


def test_feed_schemas_in_docs_are_fresh() -> None:
    docs = Path(__file__).resolve().parents[3] / "docs" / "schemas"
    assert stale_feed_schemas(docs) == [], "run write_feed_schemas() and commit docs/schemas"
    assert set(feed_schema_documents()) == {
        "id.go.lapor.agency.complaint_assigned.v1.json",
        "id.go.lapor.agency.complaint_left.v1.json",
    }


def test_names() -> None:
    assert feed_ce_type("ComplaintLeft") == "id.go.lapor.agency.complaint_left.v1"
    assert feed_topic("lapor.agency.", "KEMENKES.YANKES") == "lapor.agency.KEMENKES.YANKES.v1"
