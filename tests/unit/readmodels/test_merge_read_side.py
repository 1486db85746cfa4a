"""Issue 10 item 7 on the read side, without I/O: a duplicate merged after it was forwarded
leaves its agency everywhere a consumer keeps the holder (inbox, deadlines, feeds router,
as-of replay), its clock stops, and the original's DuplicateMerged is passed to the agency
holding the original and told on its timeline; the duplicate's reporter is told where to
follow it. The histories are real: recorded by the command handlers on the in-memory store.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from lapor_es.application import LaporApp
from lapor_es.audit.replay import apply_payload
from lapor_es.bootstrap import in_memory_app
from lapor_es.contract.cloudevents import Delivered
from lapor_es.contract.feeds import ComplaintLeft
from lapor_es.contract.payloads import (
    AnyPayload,
    DuplicateMerged,
    Merged,
    decode_payload,
    encode_payload,
    public_payload,
)
from lapor_es.contract.router_records import ComplaintRoute
from lapor_es.feeds.routing import route
from lapor_es.notify.messages import NOTIFYING, message_for
from lapor_es.readmodels.deadlines import evolve
from lapor_es.readmodels.inbox_state import advance
from lapor_es.readmodels.lifecycle import chain_after
from lapor_es.readmodels.timeline_text import summarize
from tests.conftest import NOW
from tests.support.builders import DESK, Driver, agency_actor, file_cmd, small_directory
from tests.unit.service.conftest import SETTINGS


@pytest.fixture
def story() -> Iterator[tuple[LaporApp, str, str]]:
    """Original O at KEMENKES; duplicate D addressed to KEMENSOS, verified to its choice,
    started there, then merged into O."""
    lapor = in_memory_app(SETTINGS, clock=lambda: NOW)
    small_directory(lapor)
    run = Driver(lapor, NOW - timedelta(days=30))
    verify = {
        "command": "verify",
        "actor": DESK,
        "title": "Air PDAM tidak mengalir",
        "category": "Air Bersih",
        "kind": "complaint",
        "visibility": "public",
    }
    original = str(run(**file_cmd()).tracking_id)
    duplicate = str(run(**file_cmd(target_agency="KEMENSOS")).tracking_id)
    run(**verify, complaint=original, to_agency="KEMENKES")
    run(**verify, complaint=duplicate)
    run(command="start", actor=agency_actor("KEMENSOS"), complaint=duplicate)
    run(command="merge", actor=DESK, complaint=duplicate, into=original)
    yield lapor, original, duplicate
    lapor.close()


def published(lapor: LaporApp, tid: str) -> list[AnyPayload]:
    """The complaint's history as a consumer reads it from the topic."""
    history = lapor.history(lapor.complaint(tid).id)
    return [decode_payload(encode_payload(public_payload(e))) for e in history]


def test_the_duplicate_leaves_the_agency_and_its_clock_stops(
    story: tuple[LaporApp, str, str],
) -> None:
    lapor, _, duplicate = story
    history = published(lapor, duplicate)
    assert isinstance(history[-1], Merged)
    inbox: Any = None
    deadline: Any = None
    as_of: Any = None
    chain: tuple[str, ...] = ()
    for p in history:
        inbox = advance(inbox, p)
        chain = chain_after(chain, p)
        deadline = evolve(deadline, p, chain[-1] if chain else None)
        as_of = apply_payload(as_of, p.model_dump(mode="json"))
        if p.type == "WorkStarted":  # held by KEMENSOS, in its inbox, its clock running
            assert inbox.inbox_agencies() == [("KEMENSOS", True)]
            assert deadline is not None and deadline.holder == "KEMENSOS"
    assert chain == ()
    assert inbox.chain == () and inbox.inbox_agencies() == []
    assert all(h.released_at is not None for h in inbox.holdings)
    assert deadline is None  # no clock: the SLA timer has nothing to warn or breach
    assert as_of.holder_chain == () and as_of.clock is None and str(as_of.state) == "ARCHIVED"


def test_the_router_takes_the_duplicate_from_its_agency_and_passes_the_trace_on(
    story: tuple[LaporApp, str, str],
) -> None:
    lapor, original, duplicate = story

    def routed(tid: str) -> list[tuple[str, str]]:
        state, out = ComplaintRoute(), []
        for position, p in enumerate(published(lapor, tid)):
            delivered = Delivered({"position": str(position)}, p, p.model_dump(mode="json"))
            for to in route(state, delivered):
                sent = to.payload or p
                reason = sent.reason if isinstance(sent, ComplaintLeft) else ""
                out.append((to.agency, f"{sent.type}{':' if reason else ''}{reason}"))
        return out

    assert routed(duplicate)[-2:] == [("KEMENSOS", "Merged"), ("KEMENSOS", "ComplaintLeft:merged")]
    # The agency holding the original receives the original's trace, like its other events.
    assert routed(original)[-1] == ("KEMENKES", "DuplicateMerged")


def test_the_original_shows_the_merge_and_the_duplicates_reporter_is_told(
    story: tuple[LaporApp, str, str],
) -> None:
    lapor, original, duplicate = story
    trace = published(lapor, original)[-1]
    assert isinstance(trace, DuplicateMerged)
    assert summarize(trace) == f"Laporan duplikat {duplicate} digabungkan ke laporan ini"
    merged = published(lapor, duplicate)[-1]
    assert merged.type in NOTIFYING and trace.type not in NOTIFYING
    message = message_for(merged, lambda code: code)
    assert message is not None
    assert original in message.subject and original in message.body
