"""Tracking-number blocks under contention (lapor_es.tracking): a writer whose reservation
lost a race reserves larger blocks, so contending writers reserve, and retry, less often."""

from __future__ import annotations

from typing import Any

import pytest

from lapor_es.application import LaporApp
from lapor_es.tracking import GROWTH_CAP
from tests.unit.service.conftest import Twin


def lose_next_reservation_to(lapor: LaporApp, other: Twin, monkeypatch: pytest.MonkeyPatch) -> None:
    """The next time `lapor` loads the year's sequence, `other` reserves a block before
    `lapor` saves it: `lapor`'s first save then conflicts."""
    load = lapor.tracking._sequence
    raced = False

    def stale(year: int) -> Any:
        nonlocal raced
        sequence = load(year)
        if not raced:
            raced = True
            other.tracking.take(year)
        return sequence

    monkeypatch.setattr(lapor.tracking, "_sequence", stale)


def test_a_lost_race_doubles_the_next_blocks(
    lapor: LaporApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = lapor.settings.tracking_block_size
    other = Twin(lapor)
    lose_next_reservation_to(lapor, other, monkeypatch)
    first = lapor.tracking.take(2026)
    assert first == size + 1  # the other writer won 1..size; the retry took the next block
    taken = [first] + [lapor.tracking.take(2026) for _ in range(2 * size - 1)]
    assert taken == list(range(size + 1, 3 * size + 1))  # one block of 2 * size
    assert lapor.tracking.next_size == 2 * size
    other.close()


def test_block_growth_is_capped(lapor: LaporApp, monkeypatch: pytest.MonkeyPatch) -> None:
    size = lapor.settings.tracking_block_size
    for _ in range(GROWTH_CAP + 2):
        other = Twin(lapor)
        lose_next_reservation_to(lapor, other, monkeypatch)
        lapor.tracking._reserve(2026)
        other.close()
    assert lapor.tracking.next_size == GROWTH_CAP * size


def test_an_uncontended_writer_keeps_the_configured_size(lapor: LaporApp) -> None:
    size = lapor.settings.tracking_block_size
    for _ in range(3 * size):
        lapor.tracking.take(2026)
    assert lapor.tracking.next_size == size
