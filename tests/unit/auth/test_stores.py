"""The in-memory principal and access-code stores keep the stores' contract
(tests/support/auth_stores.py; the SQL stores run the same tests in tests/integration)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from lapor_es.auth.access import InMemoryAccessCodeStore, RateLimit
from lapor_es.auth.principals import InMemoryPrincipalStore
from tests.support.auth_stores import (
    MAX_FAILURES,
    NOW,
    WINDOW,
    AccessCodeStoreContract,
    PrincipalStoreContract,
    Stores,
)


@pytest.fixture
def stores() -> Stores:
    principals = InMemoryPrincipalStore()
    codes = InMemoryAccessCodeStore(RateLimit(max_failures=MAX_FAILURES, window=WINDOW))
    return Stores(principals, codes, raw=lambda: repr(vars(principals)) + repr(vars(codes)))


class TestInMemoryPrincipalStore(PrincipalStoreContract):
    pass


class TestInMemoryAccessCodeStore(AccessCodeStoreContract):
    pass


@pytest.mark.parametrize(
    ("minutes_ago", "retry_after"),
    [
        ([], None),
        ([8, 6, 4, 2], None),
        ([0, 0, 0, 0, 0], 15 * 60),
        ([10, 8, 6, 4, 2], 5 * 60),  # when the oldest leaves, 4 remain
        ([10, 8, 6, 4, 2, 0], 7 * 60),  # the two oldest must leave
        ([0.5, 0, 0, 0, 0], 15 * 60 - 30),
        ([14.999, 0, 0, 0, 0], 1),  # never less than a second
    ],
)
def test_the_limit_lifts_when_enough_failures_leave_the_window(
    minutes_ago: list[float], retry_after: int | None
) -> None:
    times = [NOW - timedelta(minutes=minutes) for minutes in minutes_ago]
    assert RateLimit(max_failures=5, window=WINDOW).retry_after(times, NOW) == retry_after


def test_a_rate_limit_needs_an_attempt_and_a_window() -> None:
    with pytest.raises(ValueError, match="at least one attempt"):
        RateLimit(max_failures=0)
    with pytest.raises(ValueError, match="at least one attempt"):
        RateLimit(window=WINDOW * 0)
