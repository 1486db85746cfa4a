"""Kafka settings: where a client connects, which topics it uses, how it authenticates, and
how long its consumer loop waits.

One frozen `KafkaSettings` per client. Every client of lapor-es (relay, projector, feed
router, auditor, agency subscriber) is built from one of these by `lapor_es.kafka.clients`,
so a security setting given once reaches every client; every reader of a topic polls through
`lapor_es.kafka.loop.ConsumerLoop` with the `liveness` limits carried here. Each worker runs
under its own principal: `settings.with_security(...)` (or `security.as_user(...)`) gives the
copy a worker uses.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

from lapor_es.config import Settings
from lapor_es.kafka.loop import Liveness

Protocol = Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"]
Mechanism = Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"]


@dataclass(frozen=True)
class KafkaSecurity:
    """How a client authenticates and encrypts.

    PLAINTEXT (the local default broker); SASL_PLAINTEXT (SCRAM over plain TCP: tests on
    127.0.0.1 only); SASL_SSL (SCRAM inside TLS: production); SSL (TLS, optionally with a
    client certificate as the identity). TLS trusts `ssl_cafile` (else the system's CAs)
    and checks the broker's host name unless `ssl_check_hostname` is off.
    """

    protocol: Protocol = "PLAINTEXT"
    mechanism: Mechanism = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ssl_cafile: Path | None = None
    ssl_certfile: Path | None = None
    ssl_keyfile: Path | None = None
    ssl_check_hostname: bool = True

    @property
    def uses_sasl(self) -> bool:
        return self.protocol in ("SASL_PLAINTEXT", "SASL_SSL")

    @property
    def uses_tls(self) -> bool:
        return self.protocol in ("SASL_SSL", "SSL")

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for any kafka-python client (consumer, producer, admin)."""
        kwargs: dict[str, Any] = {"security_protocol": self.protocol}
        if self.uses_sasl:
            if not self.username or self.password is None:
                raise ValueError(f"{self.protocol} needs a SASL user name and password")
            kwargs |= {
                "sasl_mechanism": self.mechanism,
                "sasl_plain_username": self.username,
                "sasl_plain_password": self.password,
            }
        if self.uses_tls:
            kwargs["ssl_check_hostname"] = self.ssl_check_hostname
            if self.ssl_cafile is not None:
                kwargs["ssl_cafile"] = str(self.ssl_cafile)
            if self.ssl_certfile is not None:
                kwargs["ssl_certfile"] = str(self.ssl_certfile)
            if self.ssl_keyfile is not None:
                kwargs["ssl_keyfile"] = str(self.ssl_keyfile)
        return kwargs

    def as_user(self, username: str, password: str) -> KafkaSecurity:
        """The same transport (protocol, TLS trust) under another SASL principal."""
        protocol: Protocol = "SASL_SSL" if self.uses_tls else "SASL_PLAINTEXT"
        return replace(self, protocol=protocol, username=username, password=password)

    @classmethod
    def scram(
        cls, username: str, password: str, *, tls_cafile: Path | None = None
    ) -> KafkaSecurity:
        """SCRAM-SHA-512; over TLS (SASL_SSL) when a CA file is given."""
        if tls_cafile is None:
            return cls("SASL_PLAINTEXT", "SCRAM-SHA-512", username, password)
        return cls("SASL_SSL", "SCRAM-SHA-512", username, password, ssl_cafile=tls_cafile)

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaSecurity:
        password = settings.kafka_sasl_password
        return cls(
            protocol=settings.kafka_security_protocol,
            mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            ssl_cafile=settings.kafka_ssl_cafile,
            ssl_certfile=settings.kafka_ssl_certfile,
            ssl_keyfile=settings.kafka_ssl_keyfile,
            ssl_check_hostname=settings.kafka_ssl_check_hostname,
        )


@dataclass(frozen=True)
class KafkaSettings:
    """One client's view of the cluster: bootstrap, the complaints topic, identity, security.

    `partitions` and `replication_factor` are used when the relay creates the topic;
    `transactional_id` by the relay's producer (one per topic: a second relay with it
    fences the first); `client_id` names the client in broker logs and quotas; `liveness`
    by every consumer loop reading with these settings (LAPOR_KAFKA_*_TIMEOUT_S and
    LAPOR_KAFKA_CATCH_UP_DEADLINE_S).
    """

    bootstrap: str
    topic: str = "lapor.complaints.v1"
    partitions: int = 6
    replication_factor: int = 1
    transactional_id: str = "lapor-es-relay"
    client_id: str = "lapor-es-relay"
    security: KafkaSecurity = field(default_factory=KafkaSecurity)
    liveness: Liveness = field(default_factory=Liveness)

    def with_security(self, security: KafkaSecurity) -> KafkaSettings:
        return replace(self, security=security)

    def with_client_id(self, client_id: str) -> KafkaSettings:
        return replace(self, client_id=client_id)

    @classmethod
    def from_settings(cls, settings: Settings, *, bootstrap: str | None = None) -> KafkaSettings:
        """From LAPOR_KAFKA_* (and LAPOR_RELAY_TRANSACTIONAL_ID); `bootstrap` overrides
        LAPOR_KAFKA_BOOTSTRAP. Raises ValueError when neither names a broker."""
        servers = bootstrap or settings.kafka_bootstrap
        if not servers:
            raise ValueError("no Kafka configured: set LAPOR_KAFKA_BOOTSTRAP")
        return cls(
            bootstrap=servers,
            topic=settings.kafka_topic,
            partitions=settings.kafka_partitions,
            replication_factor=settings.kafka_replication_factor,
            transactional_id=settings.relay_transactional_id,
            security=KafkaSecurity.from_settings(settings),
            liveness=liveness_from(settings),
        )


def liveness_from(settings: Settings) -> Liveness:
    """The consumer loop's limits from LAPOR_KAFKA_ASSIGNMENT_TIMEOUT_S, _STALL_TIMEOUT_S
    and _CATCH_UP_DEADLINE_S."""
    return Liveness(
        assignment_timeout_s=settings.kafka_assignment_timeout_s,
        stall_timeout_s=settings.kafka_stall_timeout_s,
        deadline_s=settings.kafka_catch_up_deadline_s,
    )
