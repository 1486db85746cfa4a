"""The fault soak, short (issue 12): each fault of tests/support/soak.py once, with traffic
flowing, on a PostgreSQL and a broker of the test's own (the soak restarts them), each repeat
ending with the full check. bench/faults.py repeats the same faults twenty times."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.kafka import Read
from tests.support.soak import FAULTS, Lab, Outcome, lab, soak_once, topic_diff

pytestmark = [pytest.mark.integration, pytest.mark.kafka]


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """Started once for the module; a server that cannot start fails the test (never a
    skip in CI: own_broker fails there, and lab() raises when PostgreSQL cannot start)."""
    with lab(tmp_path_factory.mktemp("soak")) as started:
        yield started


@pytest.mark.timeout(300)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_then_full_check(servers: Lab, fault: str) -> None:
    outcome = soak_once(servers, fault, seed=7)
    assert outcome.error is None, outcome.error
    assert outcome.events > 20  # traffic did flow
    assert outcome == Outcome(
        fault,
        events=outcome.events,
        recover_s=outcome.recover_s,
        worker_exits=outcome.worker_exits,
    ), "lost, duplicated, reordered, read models or side effects differ"


def record(position: int, key: str, version: int, partition: int = 0) -> Read:
    headers = [
        ("ce_position", str(position).encode()),
        ("ce_complaintversion", str(version).encode()),
        ("ce_id", f"{key}:{version}".encode()),
    ]
    return Read(partition, position, key.encode(), b"{}", headers)


def test_the_topic_check_counts_what_it_should() -> None:
    """The check itself can fail: a lost, a duplicated and a reordered record are counted,
    and a record the fault sent again on purpose is not a duplicate."""
    stored = [(1, "a", 1), (2, "a", 2), (3, "b", 1), (4, "b", 2)]
    clean = [record(1, "a", 1), record(2, "a", 2), record(3, "b", 1), record(4, "b", 2)]
    assert topic_diff(clean, stored, []) == (0, 0, 0)
    assert topic_diff(clean[:3], stored, []) == (1, 0, 0)
    assert topic_diff([*clean, clean[1]], stored, []) == (0, 1, 0)
    assert topic_diff([*clean, clean[1]], stored, [clean[1]]) == (0, 0, 0)
    swapped = [clean[1], clean[0], clean[2], clean[3]]
    assert topic_diff(swapped, stored, []) == (0, 0, 1)
    split = [*clean[:3], record(4, "b", 2, partition=1)]
    assert topic_diff(split, stored, []) == (0, 0, 1)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(
    "fault", ["PostgreSQL restart under the projector", "PostgreSQL restart under the relay"]
)
def test_the_workers_ride_out_a_postgresql_restart(servers: Lab, fault: str) -> None:
    """Neither worker exits when the database restarts under it: the relay retries its
    session, the projector waits the database out and resumes from its SQL tracking (it
    died with a traceback at every restart before, and relied on its supervisor)."""
    outcome = soak_once(servers, fault, seed=11)
    assert outcome.error is None, outcome.error
    assert outcome.worker_exits == 0
