"""THE Kafka client factory: every consumer, producer and admin client of lapor-es is built
here, with the configured security (SASL, TLS) and the same documented defaults.

Defaults and why:

- Every client: `request_timeout_ms` 30 s (a request to a slow broker fails instead of
  hanging), `bootstrap_timeout_ms` 15 s for the first contact.
- Consumers: no auto commit (our offsets are SQL tracking rows, transactions or explicit
  commits), `auto_offset_reset="earliest"` (a new group reads the history),
  `read_committed` unless the caller asks otherwise (the relay and the router write in
  transactions: never show an aborted batch). Group members: `session_timeout_ms` 10 s with
  heartbeats every second, so a dead member is noticed quickly, and `max_poll_interval_ms`
  120 s, because the broker holds a JoinGroup for up to the members' poll interval
  (kafka-python's default of 300 s made a rebalance behind a vanished member wait five
  minutes).
- Producers: `acks="all"`, idempotent; transactional when given a transactional id
  (transaction timeout 60 s bounds how long a crashed batch blocks read_committed readers).

Pass keyword arguments to override a default (e.g. `max_poll_records`).
"""

from __future__ import annotations

from typing import Any, Protocol

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer

from lapor_es.kafka.settings import KafkaSecurity

REQUEST_TIMEOUT_MS = 30_000
SESSION_TIMEOUT_MS = 10_000
HEARTBEAT_INTERVAL_MS = 1_000
MAX_POLL_INTERVAL_MS = 120_000


class Endpoint(Protocol):
    """Anything that says where the cluster is and how to log in (KafkaSettings,
    FeedSettings)."""

    @property
    def bootstrap(self) -> str: ...

    @property
    def security(self) -> KafkaSecurity: ...


def _common(endpoint: Endpoint, client_id: str) -> dict[str, Any]:
    return {
        "bootstrap_servers": endpoint.bootstrap,
        "client_id": client_id,
        "request_timeout_ms": REQUEST_TIMEOUT_MS,
        "bootstrap_timeout_ms": 15_000,
        **endpoint.security.client_kwargs(),
    }


def consumer_options(
    endpoint: Endpoint,
    *,
    client_id: str,
    group_id: str | None = None,
    read_committed: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """The keyword arguments `consumer` passes to KafkaConsumer (for inspection and tests)."""
    options: dict[str, Any] = _common(endpoint, client_id) | {
        "group_id": group_id,
        "enable_auto_commit": False,
        "auto_offset_reset": "earliest",
        "isolation_level": "read_committed" if read_committed else "read_uncommitted",
    }
    if group_id is not None:
        options |= {
            "session_timeout_ms": SESSION_TIMEOUT_MS,
            "heartbeat_interval_ms": HEARTBEAT_INTERVAL_MS,
            "max_poll_interval_ms": MAX_POLL_INTERVAL_MS,
        }
    return options | overrides


def consumer(
    endpoint: Endpoint,
    *,
    client_id: str,
    group_id: str | None = None,
    read_committed: bool = True,
    **overrides: Any,
) -> KafkaConsumer:
    """A consumer; without `group_id` it is for manual assignment and moves no group's
    offsets (audits, rebuilds, tail reads)."""
    options = consumer_options(
        endpoint,
        client_id=client_id,
        group_id=group_id,
        read_committed=read_committed,
        **overrides,
    )
    return KafkaConsumer(**options)


def producer_options(
    endpoint: Endpoint,
    *,
    client_id: str,
    transactional_id: str | None = None,
    **overrides: Any,
) -> dict[str, Any]:
    options: dict[str, Any] = _common(endpoint, client_id) | {
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
    }
    if transactional_id is not None:
        options |= {"transactional_id": transactional_id, "transaction_timeout_ms": 60_000}
    return options | overrides


def producer(
    endpoint: Endpoint,
    *,
    client_id: str,
    transactional_id: str | None = None,
    **overrides: Any,
) -> KafkaProducer:
    """An idempotent producer (acks=all); transactional with a `transactional_id`."""
    return KafkaProducer(
        **producer_options(
            endpoint, client_id=client_id, transactional_id=transactional_id, **overrides
        )
    )


def admin(endpoint: Endpoint, *, client_id: str, **overrides: Any) -> KafkaAdminClient:
    """An admin client (topics, ACLs, SCRAM users, group offsets)."""
    return KafkaAdminClient(**(_common(endpoint, client_id) | overrides))
