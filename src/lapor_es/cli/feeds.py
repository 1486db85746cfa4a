"""`lapor-es feeds`: the agency router, a feed reader, its dead letters, broker grants."""

from __future__ import annotations

import json
import os
import signal
from typing import Annotated

import typer

from lapor_es import bootstrap as boot
from lapor_es.cli.metrics import DEFAULT_HOST, MetricsHost, MetricsPort, start_worker
from lapor_es.feeds.router import FeedSettings
from lapor_es.kafka.settings import KafkaSettings

app = typer.Typer(help="Per-agency feeds of complaint events", no_args_is_help=True)
dlq_app = typer.Typer(help="Records the router parked", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")


def feed_settings(bootstrap: str | None = None) -> FeedSettings:
    settings = boot.load_settings()
    try:
        kafka = KafkaSettings.from_settings(settings, bootstrap=bootstrap)
    except ValueError:
        typer.echo("no Kafka configured: set LAPOR_KAFKA_BOOTSTRAP or pass --bootstrap", err=True)
        raise typer.Exit(2) from None
    return FeedSettings(
        bootstrap=kafka.bootstrap,
        input_topic=settings.kafka_topic,
        feed_prefix=settings.feeds_topic_prefix,
        router_topics=settings.feeds_router_topics,
        router_id=settings.feeds_router_id,
        feed_partitions=settings.feeds_partitions,
        replication_factor=settings.kafka_replication_factor,
        security=kafka.security,
        liveness=kafka.liveness,
    )


PASSWORD_ENV = "LAPOR_GRANT_PASSWORD"


def new_password(who: str) -> str:
    """The new principal's password: from $LAPOR_GRANT_PASSWORD, else a hidden prompt. Never
    an argument: argv shows in `ps` and in shell history."""
    from_env = os.environ.get(PASSWORD_ENV)
    if from_env:
        return from_env
    password: str = typer.prompt(
        f"password for {who}", hide_input=True, confirmation_prompt=True, err=True
    )
    return password


Bootstrap = Annotated[
    str | None, typer.Option(help="Kafka bootstrap servers (else LAPOR_KAFKA_BOOTSTRAP)")
]


@app.command()
def route(
    follow: Annotated[
        bool, typer.Option("--follow/--until-caught-up", help="keep routing new records")
    ] = False,
    bootstrap: Bootstrap = None,
    batch_size: Annotated[int, typer.Option(min=1, max=10_000)] = 500,
    metrics_port: MetricsPort = None,
    metrics_host: MetricsHost = DEFAULT_HOST,
) -> None:
    """Route the complaints topic into per-agency feed topics, exactly once."""
    from lapor_es.feeds.router import AgencyRouter

    start_worker("router", metrics_port, metrics_host)
    router = AgencyRouter(feed_settings(bootstrap), batch_size=batch_size)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: router.stop.set())
    stats = router.run(follow=follow)
    typer.echo(json.dumps(vars(stats)))


@app.command()
def tail(
    agency: Annotated[str, typer.Argument(help="agency code, e.g. KEMENKES")],
    group: Annotated[str, typer.Option(help="group name (the id is CODE:NAME)")] = "tail",
    follow: Annotated[bool, typer.Option("--follow/--until-idle")] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Print an agency's feed as JSON lines (commits the group's offsets as it goes)."""
    from lapor_es.feeds.subscriber import AgencySubscriber, agency_group

    feeds = feed_settings(bootstrap)
    with AgencySubscriber(
        feeds.bootstrap,
        agency,
        agency_group(agency, group),
        security=feeds.security,
        topic_prefix=feeds.feed_prefix,
        liveness=feeds.liveness,
    ) as feed:
        signal.signal(signal.SIGTERM, lambda *_: feed.stop.set())
        for event in feed.events(until_idle=not follow):
            line = {"ce_id": event.ce_id, "ce_type": event.ce_type, "kind": event.kind}
            typer.echo(json.dumps(line | {"payload": event.payload.model_dump(mode="json")}))


@dlq_app.command("list")
def dlq_list(bootstrap: Bootstrap = None) -> None:
    """Parked records per complaint (the first has the error, the rest wait behind it)."""
    from lapor_es.feeds.router import parked_records

    for cid, records in parked_records(feed_settings(bootstrap)).items():
        for p in records:
            typer.echo(
                json.dumps(
                    {
                        "complaint_id": cid,
                        "topic": p.topic,
                        "partition": p.partition,
                        "offset": p.offset,
                        "error": p.error,
                    }
                )
            )


@dlq_app.command("retry")
def dlq_retry(
    complaint: Annotated[str | None, typer.Option(help="only this complaint id")] = None,
    skip_failed: Annotated[
        bool, typer.Option(help="discard the failing record, then replay those behind it")
    ] = False,
    bootstrap: Bootstrap = None,
) -> None:
    """Ask the router to replay parked records in order (it acts on its next batch)."""
    from lapor_es.feeds.router import request_retry

    request_retry(feed_settings(bootstrap), complaint, skip_failed=skip_failed)
    typer.echo(json.dumps({"requested": "retry", "complaint_id": complaint}))


@app.command()
def grant(
    agency: Annotated[str, typer.Argument(help="agency code")],
    bootstrap: Bootstrap = None,
) -> None:
    """Secured clusters: create the agency's SCRAM user with read access to its feed only.

    The new user's password comes from LAPOR_GRANT_PASSWORD or a hidden prompt. Runs as the
    admin given by LAPOR_KAFKA_SASL_USERNAME / LAPOR_KAFKA_SASL_PASSWORD.
    """
    from lapor_es.feeds.acl import agency_principal, grant_agency

    feeds = feed_settings(bootstrap)
    password = new_password(agency_principal(agency))
    user = grant_agency(feeds, agency, password, feeds.feed_prefix)
    typer.echo(
        json.dumps({"user": user, "topic": feeds.feed(agency), "group_prefix": agency + ":"})
    )


@app.command("grant-worker")
def grant_worker(
    role: Annotated[str, typer.Argument(help="relay, projector, router or auditor")],
    user: Annotated[str, typer.Argument(help="the worker's SCRAM user name")],
    projector_group: Annotated[
        str, typer.Option(help="the projector's consumer group")
    ] = "lapor-es-projector",
    bootstrap: Bootstrap = None,
) -> None:
    """Secured clusters: create a worker's SCRAM user with the least privileges of its role.

    The password comes from LAPOR_GRANT_PASSWORD or a hidden prompt; runs as the admin given
    by LAPOR_KAFKA_SASL_USERNAME / LAPOR_KAFKA_SASL_PASSWORD.
    """
    from lapor_es.feeds.acl import WORKERS, Names
    from lapor_es.feeds.acl import grant_worker as grant_role

    if role not in WORKERS:
        typer.echo(f"unknown role {role!r}: one of {', '.join(sorted(WORKERS))}", err=True)
        raise typer.Exit(2)
    feeds = feed_settings(bootstrap)
    settings = boot.load_settings()
    names = Names(
        topic=feeds.input_topic,
        relay_transactional_id=settings.relay_transactional_id,
        projector_group=projector_group,
        feeds=feeds,
    )
    acls = grant_role(feeds, role, user, new_password(user), names)
    typer.echo(json.dumps({"user": user, "role": role, "acls": acls}))
