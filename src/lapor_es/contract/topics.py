"""The default names of every Kafka topic lapor-es writes, in one place.

Each name can be changed by a setting (given beside it); the AsyncAPI document
(contract/asyncapi.py) describes the defaults, and tests/unit/contract/test_asyncapi.py checks
that the settings' defaults and the producers' helpers agree with these names.
"""

from __future__ import annotations

from lapor_es.contract.cloudevents import TOPIC
from lapor_es.contract.feeds import feed_topic

COMPLAINTS = TOPIC
"""Every stored complaint event, published by the relay (LAPOR_KAFKA_TOPIC)."""

FEED_PREFIX = "lapor.agency."
"""Agency feeds are `<prefix><CODE>.v1`, written by the router (LAPOR_FEEDS_TOPIC_PREFIX)."""

ROUTER_TOPICS = "lapor.agency-router"
"""The router's own topics are `<this>.{state,dlq,control}.v1` (LAPOR_FEEDS_ROUTER_TOPICS)."""

AUDIT_CHECKPOINTS = "lapor.audit.checkpoints.v1"
"""Signed checkpoints of every chain head, appended by `lapor-es audit checkpoint`."""


def agency_feed(agency: str, prefix: str = FEED_PREFIX) -> str:
    """`KEMENKES` -> `lapor.agency.KEMENKES.v1`."""
    return feed_topic(prefix, agency)


def router_state(router_topics: str = ROUTER_TOPICS) -> str:
    return f"{router_topics}.state.v1"


def router_dead_letters(router_topics: str = ROUTER_TOPICS) -> str:
    return f"{router_topics}.dlq.v1"


def router_control(router_topics: str = ROUTER_TOPICS) -> str:
    return f"{router_topics}.control.v1"
