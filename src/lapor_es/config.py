"""Configuration: one settings object, read from LAPOR_* environment variables (or .env)."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lapor_es.workflow import SlaPolicy, WorkingCalendar

DEFAULT_DATABASE_URL = "sqlite:///var/lapor.sqlite3"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LAPOR_", env_file=".env", extra="ignore")

    database_url: str = Field(
        DEFAULT_DATABASE_URL,
        description="sqlite:///relative/or//absolute/path, or postgresql://user:pw@host:port/db",
    )
    reporter_pepper: SecretStr | None = Field(
        None,
        description="HMAC key for reporter references (and, derived, the key that wraps the "
        "stored reporter keys); never kept in the database. Prefer the _FILE form",
    )
    reporter_pepper_file: Path | None = Field(
        None,
        description="file holding the pepper (text, or base64:... for bytes), mode 0600; "
        "the embedded default generates <database>.pepper when neither is set",
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="json lines, console (readable), or auto: console on a terminal"
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="debug, info, warning or error (logs go to stderr)"
    )
    snapshot_interval: int = Field(50, ge=1, description="snapshot complaints every N events")
    aggregate_cache_size: int = Field(
        10_000, ge=0, description="aggregates kept in memory per process (0 = none)"
    )
    tracking_block_size: int = Field(
        50,
        ge=1,
        le=10_000,
        description="tracking numbers a writer reserves at a time (one save of the year's "
        "sequence per block; unused numbers are released, and listed, on close)",
    )
    database_pool_recycle_s: int = Field(
        1800,
        ge=1,
        description="seconds after which a pooled connection to the event store's database "
        "is replaced (no ping per checkout; a dead connection is retried)",
    )

    projection_database_url: str | None = Field(
        None, description="where read models live; unset = the event store's database"
    )

    kafka_bootstrap: str | None = Field(
        None, description="host:port[,host:port]; unset = the embedded default, no Kafka"
    )
    kafka_topic: str = Field("lapor.complaints.v1", description="the published complaints topic")
    kafka_partitions: int = Field(
        6, ge=1, description="partitions when the relay creates the topic"
    )
    kafka_replication_factor: int = Field(
        1, ge=1, description="replication when the relay creates the topic (3 in production)"
    )
    relay_transactional_id: str = Field(
        "lapor-es-relay", description="one per topic: a second relay with it fences the first"
    )
    relay_batch_size: int = Field(500, ge=1, le=10_000, description="events per Kafka transaction")
    relay_poll_interval_ms: int = Field(
        50, ge=1, description="how often a caught-up relay looks for new events"
    )
    audit_signing_key: Path | None = Field(
        None,
        description="PEM Ed25519 private key that signs audit bundles; unset = one generated "
        "under var/audit/ on first export",
    )
    projector_batch_size: int = Field(
        1000, ge=1, le=10_000, description="events per projection transaction"
    )

    # The consumer loop's liveness rule (lapor_es.kafka.loop.Liveness), for every reader of a
    # topic: projector, rebuild, feed router, auditor, as-of replay, agency subscriber.
    kafka_assignment_timeout_s: float = Field(
        60.0,
        gt=0,
        description="seconds without a partition assignment before a consumer is recreated",
    )
    kafka_stall_timeout_s: float = Field(
        60.0,
        gt=0,
        description="seconds without a record while records are pending before "
        "a consumer is recreated",
    )
    kafka_catch_up_deadline_s: float = Field(
        900.0,
        gt=0,
        description="seconds a run that is not following (until caught up, a "
        "rebuild, an audit) may take before it fails; raise it for long rebuilds",
    )

    # Kafka client security (agency feeds, secured brokers); see docs/agency-integration.md.
    kafka_security_protocol: Literal["PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL", "SSL"] = Field(
        "PLAINTEXT", description="how every Kafka client connects (production: SASL_SSL)"
    )
    kafka_sasl_mechanism: Literal["SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN"] = Field(
        "SCRAM-SHA-512", description="SASL mechanism with a SASL protocol"
    )
    kafka_sasl_username: str | None = Field(None, description="SASL user (secured brokers)")
    kafka_sasl_password: SecretStr | None = Field(None, description="SASL password")
    kafka_ssl_cafile: Path | None = Field(
        None, description="PEM CA file the broker certificate must chain to (TLS protocols)"
    )
    kafka_ssl_certfile: Path | None = Field(
        None, description="PEM client certificate, when the broker asks for one (TLS)"
    )
    kafka_ssl_keyfile: Path | None = Field(None, description="PEM key of the client certificate")
    kafka_ssl_check_hostname: bool = Field(
        True, description="check that the broker certificate names the host connected to"
    )
    feeds_topic_prefix: str = Field("lapor.agency.", description="feed = <prefix><CODE>.v1")
    feeds_router_id: str = Field(
        "lapor-es-agency-router", description="consumer group and transactional id of the router"
    )
    feeds_router_topics: str = Field(
        "lapor.agency-router", description="router topics: <this>.{state,dlq,control}.v1"
    )
    feeds_partitions: int = Field(3, ge=1, le=3, description="partitions of new feed topics")

    # The HTTP door (`lapor-es serve`); see docs/api.md.
    api_max_body_bytes: int = Field(
        1_048_576, ge=1_024, description="largest request body accepted (413 above it)"
    )
    api_rate_per_second: float = Field(
        50.0, gt=0, description="requests per second per principal, refilled continuously"
    )
    api_rate_burst: int = Field(
        100, ge=1, description="requests a principal may send at once before 429"
    )
    api_request_timeout_seconds: float = Field(
        30.0, gt=0, description="a request still running after this answers 503"
    )

    answer_min_chars: int = Field(
        20,
        ge=1,
        le=1_000,
        description="fewest characters of a final response and of the desk's reason for "
        "resolving by admin",
    )

    calendar_collective_leave: bool = Field(
        True, description="count cuti bersama (government collective leave) as holidays"
    )
    calendar_extra_holidays: list[date] = Field(
        default_factory=list, description='JSON list, e.g. ["2026-12-24"]: extra days off'
    )
    calendar_extra_working_days: list[date] = Field(
        default_factory=list, description="JSON list: days declared working days by decree"
    )

    sla_verification_days: int = Field(
        3, ge=1, description="working days for the desk to verify and forward"
    )
    sla_follow_up_days: int = Field(
        5, ge=1, description="working days for the agency to follow up after forwarding"
    )
    sla_auto_resolve_days: int = Field(
        10, ge=1, description="working days of reporter silence before auto-closure"
    )
    sla_warn_before_days: int = Field(
        1, ge=1, description="warning this many working days before a deadline"
    )
    sla_national_escalation_after_days: int = Field(
        5, ge=1, description="escalate to the national desk this long after a breach"
    )
    sla_reopen_window_days: int = Field(
        30, ge=1, description="calendar days after resolution during which the desk may reopen"
    )

    # Reporter access codes (lapor_es.auth.access): the wrong-code limit, shared by every
    # server process through the database.
    access_code_attempts: int = Field(
        5, ge=1, description="wrong access codes per tracking id or client before a lockout"
    )
    access_code_window_minutes: int = Field(
        15, ge=1, description="minutes a wrong access code counts against the limit"
    )

    # The notifier (`lapor-es notify`); see docs/notifications.md.
    notify_smtp_host: str | None = Field(
        None, description="SMTP relay for e-mail to reporters; unset = no e-mail channel"
    )
    notify_smtp_port: int = Field(25, ge=1, le=65535, description="port of the SMTP relay")
    notify_smtp_sender: str = Field(
        "LAPOR! <noreply@lapor.go.id>", description="From: of the e-mails to reporters"
    )
    notify_smtp_username: str | None = Field(None, description="SMTP login, if the relay asks")
    notify_smtp_password: SecretStr | None = Field(None, description="SMTP password")
    notify_smtp_starttls: bool = Field(False, description="upgrade the SMTP connection to TLS")
    notify_sms_webhook_url: str | None = Field(
        None, description="SMS gateway webhook (POST JSON); unset = no SMS channel"
    )
    notify_sms_webhook_token: SecretStr | None = Field(
        None, description="bearer token sent to the SMS gateway"
    )
    notify_timeout_s: float = Field(30.0, gt=0, description="seconds a single send may take")
    notify_max_attempts: int = Field(
        8, ge=1, description="attempts of one message before it is parked (notify retry)"
    )
    notify_backoff_base_s: float = Field(
        30.0, gt=0, description="wait after the first failed attempt; doubled after each"
    )
    notify_backoff_max_s: float = Field(3600.0, gt=0, description="longest wait between attempts")
    notify_lease_s: float = Field(
        300.0,
        gt=0,
        description="a send claimed longer ago than this is in doubt (its process died)",
    )
    notify_max_age_hours: float = Field(
        72.0, gt=0, description="events older than this when their turn comes are skipped"
    )
    notify_group_id: str = Field(
        "lapor-es-notifier", description="consumer group of the notifier (with Kafka)"
    )
    notify_poll_interval_s: float = Field(
        1.0, gt=0, description="how often a following notifier looks for work"
    )

    # Webhooks (`lapor-es webhooks deliver`, POST /v1/webhooks); see docs/webhooks.md.
    webhooks_secret_key: SecretStr | None = Field(
        None,
        description="base64 of 32 random bytes (`lapor-es webhooks new-key`) that encrypts "
        "the endpoints' signing secrets in the database; unset = webhooks off",
    )
    webhooks_max_attempts: int = Field(
        30,
        ge=1,
        description="attempts of one record before it is parked (webhooks replay); "
        "30 with the default backoff: about 21 hours of failures",
    )
    webhooks_backoff_base_s: float = Field(
        10.0, gt=0, description="wait after a record's first failed attempt; doubled after each"
    )
    webhooks_backoff_max_s: float = Field(
        3600.0, gt=0, description="longest wait between two attempts of a record"
    )
    webhooks_timeout_s: float = Field(
        10.0, gt=0, description="seconds a receiver has to answer one delivery"
    )
    webhooks_concurrency: int = Field(
        8, ge=1, le=64, description="deliveries in flight at once (each to another complaint)"
    )
    webhooks_poll_interval_s: float = Field(
        1.0, gt=0, description="how often a following webhook worker looks for due records"
    )
    webhooks_allow_insecure: bool = Field(
        False,
        description="accept http:// and loopback/private addresses as endpoints "
        "(development and tests only)",
    )

    @field_validator("database_url")
    @classmethod
    def _known_scheme(cls, value: str) -> str:
        scheme = value.split("://", 1)[0]
        if scheme not in ("sqlite", "postgresql", "postgres", "postgresql+psycopg"):
            raise ValueError("LAPOR_DATABASE_URL must start with sqlite:/// or postgresql://")
        return value

    @property
    def sla_policy(self) -> SlaPolicy:
        return SlaPolicy(
            verification_days=self.sla_verification_days,
            follow_up_days=self.sla_follow_up_days,
            auto_resolve_days=self.sla_auto_resolve_days,
            warn_before_days=self.sla_warn_before_days,
            national_escalation_after_days=self.sla_national_escalation_after_days,
            reopen_window_days=self.sla_reopen_window_days,
        )

    @property
    def read_model_url(self) -> str:
        return self.projection_database_url or self.database_url

    @property
    def calendar(self) -> WorkingCalendar:
        return WorkingCalendar(
            extra_holidays=self.calendar_extra_holidays,
            extra_working_days=self.calendar_extra_working_days,
            include_collective_leave=self.calendar_collective_leave,
        )

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def sqlite_path(database_url: str) -> Path:
    return Path(database_url.split(":///", 1)[1])


def sqlalchemy_url(database_url: str) -> str:
    """The URL for SQLAlchemy: PostgreSQL goes through psycopg 3, like the event store."""
    scheme, rest = database_url.split("://", 1)
    if scheme in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return database_url


def _cache_env(settings: Settings) -> dict[str, str]:
    return {
        "AGGREGATE_CACHE_MAXSIZE": str(settings.aggregate_cache_size),
        "AGGREGATE_CACHE_FASTFORWARD": "y",
        "IS_SNAPSHOTTING_ENABLED": "y",
    }


def in_memory_env(settings: Settings) -> dict[str, str]:
    """eventsourcing's plain-Python (POPO) persistence: an event store in memory, for tests."""
    return _cache_env(settings) | {"PERSISTENCE_MODULE": "eventsourcing.popo"}


def eventsourcing_env(settings: Settings) -> dict[str, str]:
    """Environment for eventsourcing's persistence modules, from our one URL."""
    env = _cache_env(settings)
    if settings.is_sqlite:
        path = sqlite_path(settings.database_url)
        path.parent.mkdir(parents=True, exist_ok=True)
        env.update(
            PERSISTENCE_MODULE="eventsourcing.sqlite",
            SQLITE_DBNAME=str(path),
            # Our recorder also writes new reporter keys in the events' transaction.
            APPLICATION_RECORDER_TOPIC="lapor_es.recorders:SqliteRecorder",
        )
        return env
    parts = urlsplit(settings.database_url.replace("postgresql+psycopg", "postgresql", 1))
    env.update(
        PERSISTENCE_MODULE="eventsourcing.postgres",
        POSTGRES_DBNAME=parts.path.lstrip("/"),
        POSTGRES_HOST=parts.hostname or "127.0.0.1",
        POSTGRES_PORT=str(parts.port or 5432),
        POSTGRES_USER=unquote(parts.username or ""),
        POSTGRES_PASSWORD=unquote(parts.password or ""),
        POSTGRES_POOL_SIZE="10",
        POSTGRES_MAX_OVERFLOW="10",
        APPLICATION_RECORDER_TOPIC="lapor_es.recorders:PostgresRecorder",
    )
    return env
