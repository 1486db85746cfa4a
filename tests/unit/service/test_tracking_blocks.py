"""Tracking numbers from per-writer blocks (lapor_es.tracking), on the in-memory store."""

from __future__ import annotations

from lapor_es.aggregates import TrackingSequence
from lapor_es.aggregates.registry import tracking_sequence_id
from lapor_es.application import LaporApp
from lapor_es.commands import parse_command
from tests.support.builders import file_cmd
from tests.unit.service.conftest import Twin


def sequence_events(lapor: LaporApp, year: int) -> list[TrackingSequence.Event]:
    return list(lapor.repository.event_store.get(tracking_sequence_id(year)))  # type: ignore[arg-type]


def test_a_writer_reserves_one_block_and_issues_from_it_in_order(lapor: LaporApp) -> None:
    numbers = [lapor.tracking.take(2026) for _ in range(3)]
    assert numbers == [1, 2, 3]
    events = sequence_events(lapor, 2026)
    assert [type(e).__name__ for e in events] == ["Started", "BlockReserved"]
    reserved = events[1]
    assert isinstance(reserved, TrackingSequence.BlockReserved)
    assert (reserved.writer, reserved.first, reserved.last) == (
        lapor.tracking.writer,
        1,
        lapor.settings.tracking_block_size,
    )


def test_a_number_given_back_is_issued_next(lapor: LaporApp) -> None:
    first, second = lapor.tracking.take(2026), lapor.tracking.take(2026)
    lapor.tracking.give_back(2026, first)
    assert lapor.tracking.take(2026) == first
    assert lapor.tracking.take(2026) == second + 1


def test_an_exhausted_block_is_followed_by_the_next_free_one(lapor: LaporApp) -> None:
    size = lapor.settings.tracking_block_size
    other = Twin(lapor)
    assert other.tracking.take(2026) == 1  # the other writer holds 1..size
    taken = [lapor.tracking.take(2026) for _ in range(size + 1)]
    assert taken == list(range(size + 1, 2 * size + 2))
    other.close()


def test_release_records_the_numbers_never_issued(lapor: LaporApp) -> None:
    size = lapor.settings.tracking_block_size
    lapor.handle(parse_command(file_cmd()))  # number 1, stored
    taken = lapor.tracking.take(2026)  # 2, whose filing "failed":
    lapor.tracking.give_back(2026, taken)
    lapor.tracking.take(2026)  # 2 again
    lapor.tracking.take(2026)  # 3
    lapor.tracking.give_back(2026, 2)
    lapor.tracking.release()
    released = sequence_events(lapor, 2026)[-1]
    assert isinstance(released, TrackingSequence.BlockReleased)
    assert (released.first, released.last) == (1, size)
    assert released.unused == [[2, 2], [4, size]]
    assert lapor.tracking.take(2026) == size + 1  # released numbers are never issued again


def test_a_refused_filing_does_not_use_up_a_number(lapor: LaporApp) -> None:
    """Filing twice under one idempotency key issues one number; the next filing the next."""
    first = lapor.handle(parse_command(file_cmd(idempotency_key="block-key-0001")))
    again = lapor.handle(parse_command(file_cmd(idempotency_key="block-key-0001")))
    budi = {"name": "Budi", "phone": "081399900011"}
    later = lapor.handle(parse_command(file_cmd(reporter=budi)))
    assert (first.tracking_id, again.tracking_id) == ("LAP-2026-0000001", "LAP-2026-0000001")
    assert later.tracking_id == "LAP-2026-0000002"


def test_a_number_in_doubt_is_never_issued_again_and_settled_at_release(lapor: LaporApp) -> None:
    """A save that raised without saying whether it committed: its number is set aside. At
    release it is recorded unused only if no complaint holds it; a stored one is not."""
    size = lapor.settings.tracking_block_size
    stored = lapor.handle(parse_command(file_cmd()))  # number 1, stored
    assert stored.tracking_id == "LAP-2026-0000001"
    lapor.tracking.set_aside(2026, 1)  # as if its reply had been lost
    never_stored = lapor.tracking.take(2026)  # 2, whose save "raised" and did not commit
    lapor.tracking.set_aside(2026, never_stored)
    assert lapor.tracking.take(2026) == 3  # neither is issued again
    lapor.tracking.release()
    released = sequence_events(lapor, 2026)[-1]
    assert isinstance(released, TrackingSequence.BlockReleased)
    assert released.unused == [[2, 2], [4, size]]  # 1 is filed, so it is not "unused"
