"""`audit verify --jobs` by default: one reader for a small topic (spawning a process costs
more than it saves there), one per core from PARALLEL_MIN_RECORDS records."""

from __future__ import annotations

import pytest

from lapor_es.audit import verify as verifier
from lapor_es.audit.verify import PARALLEL_MIN_RECORDS, jobs_for


@pytest.fixture
def four_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verifier, "default_jobs", lambda: 4)


@pytest.mark.usefixtures("four_cores")
def test_a_small_topic_is_read_by_one_process() -> None:
    assert jobs_for(0) == 1
    assert jobs_for(5_340) == 1
    assert jobs_for(PARALLEL_MIN_RECORDS - 1) == 1


@pytest.mark.usefixtures("four_cores")
def test_a_large_topic_is_read_by_one_process_per_core() -> None:
    assert jobs_for(PARALLEL_MIN_RECORDS) == 4
    assert jobs_for(15_000_000) == 4


@pytest.mark.usefixtures("four_cores")
def test_jobs_asked_for_are_used_whatever_the_size() -> None:
    assert jobs_for(10, requested=3) == 3
    assert jobs_for(15_000_000, requested=1) == 1
