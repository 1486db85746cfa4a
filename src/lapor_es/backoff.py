"""Exponential backoff, shared by the workers that retry a send to someone else's server:
the notifier (lapor_es.notify) and the webhook sender (lapor_es.feeds.webhooks)."""

from __future__ import annotations

from datetime import timedelta


def exponential(attempts: int, base_s: float, max_s: float) -> timedelta:
    """The wait after the `attempts`-th failed attempt: base, 2 base, 4 base, ..., at most
    `max_s` (a receiver that is down for a day is tried about once per `max_s`)."""
    seconds = base_s * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(seconds, max_s))
