"""The one composition root: everything that is configured is built here, and only here.

Settings, logging, database engines, the reporter key store, LaporApp, the projection
engine and the Kafka clients' settings are chosen from `lapor_es.config.Settings` by the
functions below; the CLI (and the coming HTTP service) call them and nothing else wires
infrastructure. Every builder takes what it needs as arguments, so a test can hand in its
own settings, clock or calendar.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import Engine, create_engine

from lapor_es.application import LaporApp, utc_now
from lapor_es.auth import migrations as auth_migrations
from lapor_es.auth.access import AccessCodeStore, RateLimit, SqlAccessCodeStore
from lapor_es.auth.principals import PrincipalStore, SqlPrincipalStore
from lapor_es.config import (
    Settings,
    eventsourcing_env,
    in_memory_env,
    sqlalchemy_url,
    sqlite_path,
)
from lapor_es.logging import LogFormat, configure_logging
from lapor_es.privacy import InMemoryKeyStore, KeyStore, PepperSource, SqlKeyStore
from lapor_es.projections import core

if TYPE_CHECKING:
    from lapor_es.api.door import Door
    from lapor_es.feeds.webhook_store import WebhookStore
    from lapor_es.feeds.webhooks import WebhookPolicy
    from lapor_es.notify.channels import Channel
    from lapor_es.notify.service import Notifier
    from lapor_es.readmodels.service import ReadModelService
from lapor_es.workflow import WorkingCalendar

Clock = Callable[[], datetime]


def load_settings(*, log_level: str | None = None, log_format: LogFormat | None = None) -> Settings:
    """Settings from the environment (LAPOR_*, .env), with logging configured by them.

    `log_level` overrides the configured level, for commands whose output is the report
    (audit, simulate, demo) and would drown in per-command log lines.
    """
    configured = Settings()
    configure_logging(log_format or configured.log_format, log_level or configured.log_level)
    return configured


def event_store_engine(settings: Settings) -> Engine:
    """SQLAlchemy engine on the event store's database (where the reporter keys live too).

    No ping per checkout (a round trip on every read): connections are replaced after
    `database_pool_recycle_s`, and a read that meets a connection the server dropped is
    retried (lapor_es.privacy.retry_dead_connection) once SQLAlchemy has invalidated the pool."""
    return create_engine(
        sqlalchemy_url(settings.database_url), pool_recycle=settings.database_pool_recycle_s
    )


def projection_engine(settings: Settings) -> Engine:
    """SQLAlchemy engine on the read models' database."""
    return projection_engine_at(settings.read_model_url)


def projection_engine_at(url: str) -> Engine:
    """SQLAlchemy engine for read models on `url` (a scratch database, a rebuild's target),
    with what the projector requires of it (SAVEPOINT on SQLite too)."""
    return core.enable_savepoints(create_engine(sqlalchemy_url(url)))


@contextmanager
def read_model_service(settings: Settings) -> Iterator[ReadModelService]:
    """The read models (project, rebuild, dead letters, status) on an engine of their own,
    disposed when the block ends."""
    from lapor_es.readmodels.service import ReadModelService

    engine = projection_engine(settings)
    try:
        yield ReadModelService(engine, settings)
    finally:
        engine.dispose()


def key_store(settings: Settings) -> KeyStore:
    """Reporter keys beside the event store, wrapped with the out-of-store pepper."""
    return SqlKeyStore.open(event_store_engine(settings), pepper_source(settings))


def pepper_source(settings: Settings) -> PepperSource:
    """Where the reporter pepper comes from (docs/privacy.md). Only the embedded default
    (SQLite) generates one on first run, into LAPOR_REPORTER_PEPPER_FILE or, unset, a file
    beside the database; a PostgreSQL deployment must be given its pepper."""
    generated = None
    if settings.is_sqlite:
        database = sqlite_path(settings.database_url)
        generated = settings.reporter_pepper_file or database.with_name(database.name + ".pepper")
    return PepperSource(
        value=settings.reporter_pepper,
        file=settings.reporter_pepper_file,
        generated_file=generated,
    )


def auth_engine(settings: Settings) -> Engine:
    """Engine on the event store's database with the auth tables migrated to head."""
    if settings.is_sqlite:  # the embedded store's directory, as open_app makes it
        sqlite_path(settings.database_url).parent.mkdir(parents=True, exist_ok=True)
    engine = event_store_engine(settings)
    auth_migrations.prepare(engine)
    return engine


def principal_store(settings: Settings, engine: Engine | None = None) -> PrincipalStore:
    """The door's principals, beside the event store. Pass `engine` to share one pool."""
    return SqlPrincipalStore(engine or auth_engine(settings))


def access_codes(settings: Settings, engine: Engine | None = None) -> AccessCodeStore:
    """Reporter access codes, beside the event store, with the configured wrong-code limit."""
    limit = RateLimit(
        max_failures=settings.access_code_attempts,
        window=timedelta(minutes=settings.access_code_window_minutes),
    )
    return SqlAccessCodeStore(engine or auth_engine(settings), limit)


def open_app(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    calendar: WorkingCalendar | None = None,
    cache_size: int | None = None,
) -> LaporApp:
    """LaporApp on the configured store (SQLite or PostgreSQL) with its key store beside it.

    `cache_size` overrides how many aggregates stay in memory (the demo keeps a year)."""
    if cache_size is not None:
        settings = settings.model_copy(update={"aggregate_cache_size": cache_size})
    env = eventsourcing_env(settings)  # first: it creates an embedded store's directory
    return LaporApp(settings, keys=key_store(settings), env=env, clock=clock, calendar=calendar)


def in_memory_app(
    settings: Settings,
    *,
    clock: Clock = utc_now,
    calendar: WorkingCalendar | None = None,
    keys: KeyStore | None = None,
) -> LaporApp:
    """LaporApp on eventsourcing's in-memory (POPO) store with in-memory keys: no database.

    `settings.database_url` is not used. Pass `keys` to share one key store between apps."""
    return LaporApp(
        settings,
        keys=keys or InMemoryKeyStore(),
        env=in_memory_env(settings),
        clock=clock,
        calendar=calendar,
    )


def door(settings: Settings, *, clock: Clock = utc_now) -> Door:
    """Everything the HTTP door needs (`lapor_es.api.create_app(door)`): LaporApp on the
    configured store, the auth stores beside it (migrated), the read-model database
    (migrated, so the read routes never meet a missing table) and the directory scope."""
    from lapor_es.api.door import DirectoryScope, Door
    from lapor_es.readmodels.migrations import prepare
    from lapor_es.readmodels.registry import read_models

    auth = auth_engine(settings)
    read = projection_engine(settings)
    prepare(read, read_models(settings.calendar, settings.sla_policy))
    lapor = open_app(settings, clock=clock)
    return Door(
        settings=settings,
        lapor=lapor,
        principals=principal_store(settings, auth),
        access_codes=access_codes(settings, auth),
        read_models=read,
        scope=DirectoryScope(lapor),
        event_store=auth,
        clock=clock,
        webhooks=webhook_store(settings, auth),
    )


def webhook_store(settings: Settings, engine: Engine | None = None) -> WebhookStore:
    """Webhook subscriptions and deliveries, beside the auth tables (migrated). Without
    LAPOR_WEBHOOKS_SECRET_KEY they can be listed and deleted, not registered or sent."""
    from lapor_es.feeds.webhook_signing import SecretBox
    from lapor_es.feeds.webhook_store import WebhookStore

    key = settings.webhooks_secret_key
    box = SecretBox.from_setting(key.get_secret_value()) if key is not None else None
    return WebhookStore(engine or auth_engine(settings), box)


def webhook_policy(settings: Settings) -> WebhookPolicy:
    from lapor_es.feeds.webhooks import WebhookPolicy

    return WebhookPolicy(
        max_attempts=settings.webhooks_max_attempts,
        backoff_base_s=settings.webhooks_backoff_base_s,
        backoff_max_s=settings.webhooks_backoff_max_s,
        timeout_s=settings.webhooks_timeout_s,
        concurrency=settings.webhooks_concurrency,
        poll_interval_s=settings.webhooks_poll_interval_s,
    )


def notify_channels(settings: Settings) -> list[Channel]:
    """The configured channels: e-mail with an SMTP host, SMS with a gateway webhook."""
    from lapor_es.notify.channels import SmtpChannel, WebhookSmsChannel

    channels: list[Channel] = []
    if settings.notify_smtp_host:
        channels.append(
            SmtpChannel(
                host=settings.notify_smtp_host,
                port=settings.notify_smtp_port,
                sender=settings.notify_smtp_sender,
                username=settings.notify_smtp_username,
                password=settings.notify_smtp_password,
                starttls=settings.notify_smtp_starttls,
                timeout_s=settings.notify_timeout_s,
            )
        )
    if settings.notify_sms_webhook_url:
        channels.append(
            WebhookSmsChannel(
                url=settings.notify_sms_webhook_url,
                token=settings.notify_sms_webhook_token,
                timeout_s=settings.notify_timeout_s,
            )
        )
    return channels


def notifier(
    settings: Settings,
    lapor: LaporApp,
    engine: Engine,
    *,
    clock: Clock = utc_now,
    from_kafka: bool = False,
    channels: list[Channel] | None = None,
) -> Notifier:
    """The notifier on the read-model `engine` (its table migrated), fed from the store
    in-process or (`from_kafka`) from the complaints topic as its consumer group."""
    from lapor_es.kafka.settings import KafkaSettings
    from lapor_es.notify.service import Notifier, RetryPolicy
    from lapor_es.readmodels.migrations import prepare

    service = Notifier(
        lapor,
        engine,
        notify_channels(settings) if channels is None else channels,
        policy=RetryPolicy(
            max_attempts=settings.notify_max_attempts,
            backoff_base_s=settings.notify_backoff_base_s,
            backoff_max_s=settings.notify_backoff_max_s,
            lease_s=settings.notify_lease_s,
        ),
        clock=clock,
        max_age=timedelta(hours=settings.notify_max_age_hours),
        poll_interval=settings.notify_poll_interval_s,
        kafka=KafkaSettings.from_settings(settings) if from_kafka else None,
        group_id=settings.notify_group_id,
    )
    prepare(engine, [service.model])
    return service
