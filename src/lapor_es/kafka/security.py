"""Kafka client security settings, shared by the router, the subscriber and the ACL tools."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lapor_es.config import Settings


@dataclass(frozen=True)
class KafkaSecurity:
    """PLAINTEXT (the local default broker) or SASL with a user name and password."""

    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str | None = None
    password: str | None = None

    def client_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for any kafka-python client."""
        if self.protocol == "PLAINTEXT":
            return {}
        return {
            "security_protocol": self.protocol,
            "sasl_mechanism": self.mechanism,
            "sasl_plain_username": self.username,
            "sasl_plain_password": self.password,
        }

    @classmethod
    def scram(cls, username: str, password: str) -> KafkaSecurity:
        return cls("SASL_PLAINTEXT", "SCRAM-SHA-512", username, password)

    @classmethod
    def from_settings(cls, settings: Settings) -> KafkaSecurity:
        password = settings.kafka_sasl_password
        return cls(
            protocol=settings.kafka_security_protocol,
            mechanism=settings.kafka_sasl_mechanism,
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
        )
