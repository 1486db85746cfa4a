"""The fault soak (issue 12): each fault injected with traffic flowing, then a full check.

One module for the CI variant (tests/integration/test_fault_soak.py, one or two repeats) and
the benchmark (bench/faults.py, twenty): `lab()` starts a PostgreSQL and a Kafka broker of the
soak's own (it restarts them, so it never touches the shared ones), `pipeline()` gives each
repeat fresh databases and topics, a function per fault in `FAULTS` injects its fault at a
random moment of the traffic and measures the recovery, and `full_check()` ends every repeat.

The full check, the same after every fault:

- topic: every stored complaint event exactly once on the complaints topic, per complaint in
  version order on one partition (`lost`, `duplicated`, `out_of_order`);
- read models: the tables fed from Kafka equal a fresh in-process rebuild from the store
  (`read_model_mismatches` = rows in one and not the other);
- agency feeds: each feed holds exactly what the routing rules give from the topic, in order
  (counted into `lost`, `duplicated`, `out_of_order` too);
- side effects (`side_effect_duplicates`): no filing stored twice (every filing carries an
  idempotency key and writers retry through outages), no SLA ladder step recorded twice.

Recovery (`recover_s`): from the end of the fault (the killed worker restarted, the restarted
server accepting connections, the second projector started, the duplicates sent) until the
workers' output covers everything stored when the fault ended.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from kafka import KafkaAdminClient, KafkaProducer
from sqlalchemy import func, select

from lapor_es.aggregates import DomainError
from lapor_es.application import Conflict, LaporApp
from lapor_es.bootstrap import open_app, projection_engine_at
from lapor_es.commands import parse_command
from lapor_es.config import Settings
from lapor_es.contract import from_record
from lapor_es.contract.feeds import feed_ce_id
from lapor_es.feeds.router import AgencyRouter, FeedSettings
from lapor_es.feeds.routing import ComplaintRoute, route
from lapor_es.kafka.relay import Relay, committed_position, complaint_event_topics
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.projections.core import versions
from tests.support.builders import DESK, agency_actor, file_cmd, reporter_actor, small_directory
from tests.support.kafka import OwnBroker, Read, free_port, own_broker, read_topic, stored_events
from tests.support.projections import live_snapshot, read_model_service, with_read_models_at
from tests.support.services import PG_LAUNCHER

MODELS = ("complaints", "inbox", "timeline", "deadlines")
WAIT_S = 180.0  # the longest any wait of a repeat may take before it counts as a failure
LADDER = ("SlaWarned", "SlaBreached", "Escalated")


class SoakError(AssertionError):
    """A wait ran past its deadline, or a worker could not be restarted."""


def wait_until(what: str, condition: Callable[[], bool], timeout_s: float = WAIT_S) -> float:
    """Poll `condition` until true; return the seconds it took. Raises SoakError naming
    what was waited for."""
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout_s:
            raise SoakError(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(0.25)
    return time.monotonic() - started


# ====================================================================== the soak's own servers
@dataclass
class Lab:
    """A PostgreSQL server and a Kafka broker of the soak's own, which it may restart."""

    workdir: Path
    pg_env: dict[str, str]
    server_url: str
    broker: OwnBroker

    @property
    def bootstrap(self) -> str:
        return self.broker.bootstrap

    def fresh_database(self) -> str:
        name = f"soak_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.server_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.server_url.rsplit("/", 1)[0] + "/" + name

    def restart_postgres(self) -> None:
        """A fast shutdown (every session cut) and a start on the same data."""
        postgres(self.pg_env, "stop")
        postgres(self.pg_env, "start")

    def restart_broker(self) -> None:
        """SIGTERM the broker and start it again on the same data."""
        self.broker.launcher("stop", keep_data=True)
        self.broker.launcher("start", keep_data=True)


@contextmanager
def lab(workdir: Path) -> Iterator[Lab]:
    """Start the soak's PostgreSQL and broker (ports and data dirs of their own); stop and
    wipe both afterwards. A server that cannot start raises (the CI test fails)."""
    # Run as root, the launcher runs the server as `postgres`, which must reach its cluster
    # directory: a temp dir of its own, open to it (a test's tmp_path is private to root).
    home = Path(tempfile.mkdtemp(prefix="lapor-soak-pg-"))
    home.chmod(0o755)
    pg_env = os.environ | {"LAPOR_PG_DIR": str(home / "cluster"), "LAPOR_PG_PORT": str(free_port())}
    try:
        url = postgres(pg_env, "start").strip().splitlines()[-1]
        with own_broker(workdir / "kafka") as broker:
            yield Lab(workdir, pg_env, url, broker)
    finally:
        with suppress(SoakError):
            postgres(pg_env, "stop", "--wipe")
        shutil.rmtree(home, ignore_errors=True)


def postgres(env: dict[str, str], *command: str) -> str:
    """Run deploy/postgres/pg with the soak's port and data dir; its stdout."""
    done = subprocess.run(
        ["bash", str(PG_LAUNCHER), *command], env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise SoakError(f"pg {' '.join(command)} failed:\n{done.stderr[-3000:]}")
    return done.stdout


# ====================================================================== one repeat's pipeline
# `lapor-es` arguments of each worker the soak runs as a process.
WORKER_COMMANDS: dict[str, tuple[str, ...]] = {
    "relay": ("relay", "--follow"),
    "projector": ("project", "--from-kafka", "--follow"),
    "router": ("feeds", "route", "--follow", "--batch-size", "3"),
    "timers": ("timers", "--follow", "--poll-interval", "0.5"),
}


@dataclass
class Pipeline:
    """Fresh databases and topics for one repeat, and the worker processes running on them."""

    lab: Lab
    name: str
    settings: Settings  # store + Kafka-fed read models + topics, as the workers get them
    rebuild_url: str  # where the full check rebuilds the read models from the store
    app: LaporApp
    kafka: KafkaSettings
    feeds: FeedSettings
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    helpers: list[tuple[threading.Event, threading.Thread]] = field(default_factory=list)
    with_feeds: bool = False  # the full check compares the agency feeds (a router ran)
    seen: dict[str, int] = field(default_factory=dict)
    exits: int = 0  # workers found dead and restarted, as a supervisor would
    filings: int = 0  # complaints the writers meant to file (each once)
    ladder_complaints: int = 0  # complaints whose SLA ladder the timer must walk

    @property
    def group(self) -> str:
        return f"soak-{self.name}"

    # ------------------------------------------------------------------ workers
    def env(self, **more: str) -> dict[str, str]:
        s = self.settings
        return {k: v for k, v in os.environ.items() if not k.startswith("LAPOR_")} | {
            "LAPOR_DATABASE_URL": s.database_url,
            "LAPOR_PROJECTION_DATABASE_URL": s.read_model_url,
            "LAPOR_REPORTER_PEPPER": "soak-pepper",
            "LAPOR_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            "LAPOR_KAFKA_TOPIC": self.kafka.topic,
            "LAPOR_KAFKA_PARTITIONS": str(self.kafka.partitions),
            "LAPOR_RELAY_TRANSACTIONAL_ID": self.kafka.transactional_id,
            "LAPOR_RELAY_BATCH_SIZE": "7",  # small batches: a kill lands mid-batch
            "LAPOR_PROJECTOR_BATCH_SIZE": "5",
            "LAPOR_FEEDS_TOPIC_PREFIX": self.feeds.feed_prefix,
            "LAPOR_FEEDS_ROUTER_TOPICS": self.feeds.router_topics,
            "LAPOR_FEEDS_ROUTER_ID": self.feeds.router_id,
            "LAPOR_FEEDS_PARTITIONS": str(self.feeds.feed_partitions),
            "LAPOR_LOG_FORMAT": "json",
            "LAPOR_LOG_LEVEL": "warning",
            **more,
        }

    def start(self, role: str, key: str | None = None) -> subprocess.Popen[bytes]:
        """Start worker `role` (under `key`, default the role) as `lapor-es ...`; its stderr
        goes to a log file of the repeat (a pipe nobody reads would block it)."""
        key = key or role
        args = WORKER_COMMANDS[role] + (("--group-id", self.group) if role == "projector" else ())
        extra = {"LAPOR_PROJECTION_DATABASE_URL": self.timers_url} if role == "timers" else {}
        log = (self.lab.workdir / f"{self.name}-{key}.log").open("ab")
        self.workers[key] = subprocess.Popen(
            [sys.executable, "-m", "lapor_es.cli", *args],
            env=self.env(**extra),
            stdout=subprocess.DEVNULL,
            stderr=log,
        )
        log.close()  # the child holds its own descriptor
        return self.workers[key]

    @property
    def timers_url(self) -> str:
        """The timer's in-process deadlines table lives apart from the Kafka-fed models."""
        return self.settings.database_url

    def relay_in_process(self) -> None:
        """A following relay in a thread of this process: the helper stage of a fault whose
        subject is another worker (a process start costs seconds on a loaded machine)."""
        relay = Relay(self.app.recorder, self.app.mapper, self.kafka, batch_size=7)
        thread = threading.Thread(target=relay.run, kwargs={"follow": True}, daemon=True)
        thread.start()
        self.helpers.append((relay.stop, thread))

    def kill(self, key: str) -> None:
        proc = self.workers.pop(key)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)

    def stop_all(self) -> None:
        """SIGTERM every worker (they finish their batch and leave their group); stop the
        helper threads."""
        for stop, thread in self.helpers:
            stop.set()
            thread.join(timeout=60)
        self.helpers.clear()
        for proc in self.workers.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for key, proc in list(self.workers.items()):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=30)
            del self.workers[key]

    def supervise(self) -> None:
        """Restart a worker that exited (a server restart may end one), counting it."""
        for key, proc in list(self.workers.items()):
            if proc.poll() is not None:
                self.exits += 1
                self.start(key.split("#")[0], key)

    # ------------------------------------------------------------------ progress
    def head(self) -> int:
        """The position of the last stored complaint event: what the relay's committed tail
        reaches when caught up (the store's own head may be a reporter's or a key's event,
        which the relay does not publish)."""
        stored = stored_events(self.app)
        return stored[-1][0] if stored else 0

    def stored_count(self) -> int:
        return len(stored_events(self.app))

    # Each progress probe notes what it saw in `seen`: a wait that runs out says where
    # every stage stood.
    def relay_reached(self, position: int) -> bool:
        self.supervise()
        self.seen["relay position"] = committed_position(self.kafka, timeout_s=10)
        self.seen["store head"] = position
        return self.seen["relay position"] >= position

    def projected(self, events: int) -> bool:
        """True once every Kafka-fed model has applied at least `events` events (the sum of
        claimed versions, each claimed once)."""
        self.supervise()
        self.seen["projected (least model)"] = min(
            applied(self.settings.read_model_url, m) for m in MODELS
        )
        self.seen["events to project"] = events
        return self.seen["projected (least model)"] >= events

    def routed(self, records: int) -> bool:
        self.supervise()
        self.seen["feed records"] = sum(len(v) for v in feed_ids(self.feeds).values())
        self.seen["feed records due"] = records
        return self.seen["feed records"] >= records

    def state(self) -> str:
        """Where the stages stood, and which workers are alive: for a failed repeat."""
        alive = {key: proc.poll() is None for key, proc in self.workers.items()}
        return f"seen {self.seen}, workers alive {alive}, restarted {self.exits}"


def applied(url: str, projection: str) -> int:
    engine = projection_engine_at(url)
    try:
        with engine.connect() as conn:
            if not engine.dialect.has_table(conn, versions.name):
                return 0
            total = conn.execute(
                select(func.coalesce(func.sum(versions.c.version), 0)).where(
                    versions.c.projection == projection
                )
            ).scalar_one()
            return int(total)
    finally:
        engine.dispose()


@contextmanager
def pipeline(the_lab: Lab, name: str) -> Iterator[Pipeline]:
    """Three fresh databases (store, Kafka-fed read models, rebuild), a fresh 3-partition
    topic and feed prefix, a directory of agencies; every worker stopped afterwards."""
    suffix = f"{name}-{uuid.uuid4().hex[:8]}"
    store, models, rebuild = (the_lab.fresh_database() for _ in range(3))
    settings = Settings(
        database_url=store,
        projection_database_url=models,
        reporter_pepper="soak-pepper",
        kafka_bootstrap=the_lab.bootstrap,
        kafka_topic=f"soak.complaints.{suffix}",
    )
    kafka = KafkaSettings(
        bootstrap=the_lab.bootstrap,
        topic=settings.kafka_topic,
        partitions=3,
        transactional_id=f"soak-relay-{suffix}",
    )
    feeds = FeedSettings(
        bootstrap=the_lab.bootstrap,
        input_topic=kafka.topic,
        feed_prefix=f"soak.agency.{suffix}.",
        router_topics=f"soak.router.{suffix}",
        router_id=f"soak-router-{suffix}",
        feed_partitions=2,
    )
    app = open_app(settings)
    small_directory(app)
    run = Pipeline(the_lab, suffix, settings, rebuild, app, kafka, feeds)
    try:
        yield run
    finally:
        run.stop_all()
        app.close()


# ====================================================================== traffic
RETRY_S = 120.0  # how long a writer retries one command through an outage


class Writer(threading.Thread):
    """Files complaints and drives them down varied paths, as `tests.support.builders.traffic`
    does, retrying each command through outages. Filings carry an idempotency key, so a
    retried filing whose first attempt did commit is answered, not stored twice."""

    def __init__(self, run: Pipeline, complaints: int, *, seed: str, overdue: bool = False) -> None:
        super().__init__(name=f"writer-{seed}", daemon=True)
        self.pipeline = run
        self.complaints = complaints
        self.seed = seed
        self.overdue = overdue  # forwarded to a unit and ignored: the SLA ladder comes due
        self.commands_done = 0
        self.errors: list[str] = []
        self.at = datetime.now(UTC) - timedelta(days=60)
        run.filings += complaints
        if overdue:
            run.ladder_complaints += complaints

    @property
    def planned_commands(self) -> int:
        return self.complaints * 3  # overdue: exactly 3 per complaint; else 1 to 4

    def run(self) -> None:
        app = open_app(self.pipeline.settings)
        try:
            for i in range(self.complaints):
                self._complaint(app, i)
        except BaseException as exc:  # raised again by finish()
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            app.close()

    def _do(self, app: LaporApp, **command: Any) -> Any:
        self.at += timedelta(hours=1)
        parsed = parse_command({**command, "at": self.at.isoformat()})
        deadline = time.monotonic() + RETRY_S
        retried = False
        while True:
            try:
                out = app.handle(parsed)
                break
            except Conflict:
                raise  # "too busy", "used by another filing": never what a retry expects
            except DomainError:
                # Refused after a retry: the first attempt committed before the outage cut
                # its reply off, and the complaint has moved on (already verified, ...).
                if retried:
                    out = None
                    break
                raise
            except Exception:
                if time.monotonic() > deadline:
                    raise
                retried = True
                time.sleep(0.3)
        self.commands_done += 1
        return out

    def _complaint(self, app: LaporApp, i: int) -> None:
        holder = "KEMENKES" if i % 2 else "KEMENSOS"
        filed = self._do(
            app,
            **file_cmd(
                title=f"Laporan {self.seed} {i}",
                reporter={
                    "name": f"Warga {self.seed} {i}",
                    "phone": f"0813{i:03d}{len(self.seed):05d}",
                },
                visibility=("public", "anonymous", "confidential")[i % 3],
                idempotency_key=f"{self.pipeline.name}-{self.seed}-{i}"[-60:],
            ),
        )
        tid, ref = str(filed.tracking_id), str(filed.reporter_ref)
        verify = {"command": "verify", "actor": DESK, "complaint": tid, "title": f"Laporan {i}",
                  "category": "Air Bersih", "kind": "complaint", "visibility": "public",
                  "visibility_reason": "Pelapor setuju laporannya dipublikasikan"}  # fmt: skip
        if self.overdue:
            self._do(app, **verify, to_agency="KEMENKES")
            self._do(app, command="forward", actor=agency_actor("KEMENKES"), complaint=tid,
                     to_agency="KEMENKES.ITJEN")  # fmt: skip
            return
        if i % 4 == 3:
            self._do(app, command="archive", actor=DESK, complaint=tid, reason="too_general")
            return
        self._do(app, **verify, to_agency=holder)
        if i % 4 == 0:
            return
        self._do(app, command="respond", actor=agency_actor(holder), complaint=tid,
                 kind="final", text="Sudah ditindaklanjuti")  # fmt: skip
        if i % 4 == 2:
            self._do(app, command="reply", actor=reporter_actor(ref), complaint=tid,
                     kind="confirm", text="Terima kasih")  # fmt: skip


def mid_traffic(writer: Writer, rng: random.Random) -> None:
    """Wait for a random moment of the writer's work (a fifth to four fifths through)."""
    target = int(writer.planned_commands * rng.uniform(0.2, 0.8))
    wait_until(
        f"the writer's command {target}",
        lambda: writer.commands_done >= target or not writer.is_alive(),
    )


# ====================================================================== the faults
@dataclass
class Injected:
    """What a fault function reports besides the full check."""

    recover_s: float
    duplicates_sent: list[Read] = field(default_factory=list)  # deliberately re-delivered
    side_effect_duplicates: int = 0


def run_traffic(
    run: Pipeline,
    rng: random.Random,
    flowing: Callable[[int, int], bool],
    fault: Callable[[], float],
) -> float:
    """A warm-up filing until `flowing(store head, stored events)` says the workers carry
    it, then a writer files while `fault`, injected mid-traffic, returns its recovery time."""
    warm_up = Writer(run, 2, seed="warm-up")
    warm_up.run()  # in this thread
    if warm_up.errors:
        raise SoakError(f"the warm-up filing failed: {warm_up.errors}")
    head, stored = run.head(), run.stored_count()
    wait_until("the workers to carry the warm-up traffic", lambda: flowing(head, stored))
    writer = Writer(run, 12, seed="a")
    writer.start()
    mid_traffic(writer, rng)
    recovered = fault()
    finish(writer)
    return recovered


def finish(writer: Writer) -> None:
    """Wait for the writer; a command it could not get through is the repeat's failure."""
    writer.join(timeout=RETRY_S * 3)
    if writer.is_alive():
        raise SoakError(f"{writer.name} still writing after {RETRY_S * 3:.0f} s")
    if writer.errors:
        raise SoakError(f"{writer.name} failed: {writer.errors}")


def relay_sigkill(run: Pipeline, rng: random.Random) -> Injected:
    run.start("relay")

    def fault() -> float:
        run.kill("relay")
        head = run.head()
        run.start("relay")
        return wait_until(
            "the restarted relay to publish the head", lambda: run.relay_reached(head)
        )

    return Injected(run_traffic(run, rng, lambda head, _: run.relay_reached(head), fault))


def projector_sigkill(run: Pipeline, rng: random.Random) -> Injected:
    run.relay_in_process()
    run.start("projector")

    def fault() -> float:
        run.kill("projector")
        stored = run.stored_count()
        run.start("projector")
        return wait_until("the restarted projector", lambda: run.projected(stored))

    return Injected(run_traffic(run, rng, lambda _, events: run.projected(events), fault))


def router_sigkill(run: Pipeline, rng: random.Random) -> Injected:
    run.relay_in_process()
    run.start("router")
    run.with_feeds = True

    def fault() -> float:
        run.kill("router")
        head = run.head()
        wait_until("the relay", lambda: run.relay_reached(head))
        due = sum(len(ids) for ids in expected_feeds(run.kafka).values())
        run.start("router")
        return wait_until("the restarted router", lambda: run.routed(due))

    return Injected(run_traffic(run, rng, lambda _h, _e: run.routed(1), fault))


def broker_restart(run: Pipeline, rng: random.Random) -> Injected:
    run.start("relay")
    run.start("projector")

    def fault() -> float:
        run.lab.restart_broker()
        head, stored = run.head(), run.stored_count()
        return wait_until(
            "relay and projector after the broker restart",
            lambda: run.relay_reached(head) and run.projected(stored),
        )

    return Injected(
        run_traffic(
            run, rng, lambda head, events: run.relay_reached(head) and run.projected(events), fault
        )
    )


def postgres_restart_under_relay(run: Pipeline, rng: random.Random) -> Injected:
    run.start("relay")

    def fault() -> float:
        run.lab.restart_postgres()
        head = wait_for_store(run)
        return wait_until("the relay after the PostgreSQL restart", lambda: run.relay_reached(head))

    return Injected(run_traffic(run, rng, lambda head, _: run.relay_reached(head), fault))


def postgres_restart_under_projector(run: Pipeline, rng: random.Random) -> Injected:
    run.relay_in_process()
    run.start("projector")

    def fault() -> float:
        run.lab.restart_postgres()
        wait_for_store(run)
        stored = run.stored_count()
        return wait_until(
            "the projector after the PostgreSQL restart", lambda: run.projected(stored)
        )

    return Injected(run_traffic(run, rng, lambda _, events: run.projected(events), fault))


def wait_for_store(run: Pipeline) -> int:
    """The store head, once the restarted server answers (the first queries after a restart
    may meet a pooled connection the restart cut)."""
    heads: list[int] = []

    def answered() -> bool:
        try:
            heads.append(run.head())
        except Exception:
            return False
        return True

    wait_until("the restarted PostgreSQL to answer", answered)
    return heads[-1]


def two_projectors_rebalancing(run: Pipeline, rng: random.Random) -> Injected:
    """Two projectors share the group; mid-traffic one leaves (SIGTERM: the group rebalances
    its partitions onto the other) and comes back (a second rebalance)."""
    run.relay_in_process()
    run.start("projector", "projector#1")
    run.start("projector", "projector#2")

    def flowing(_: int, events: int) -> bool:
        return run.projected(events) and group_members(run) == 2

    def fault() -> float:
        leaving = run.workers.pop("projector#1")
        leaving.send_signal(signal.SIGTERM)
        leaving.wait(timeout=60)
        stored = run.stored_count()
        run.start("projector", "projector#1")
        return wait_until("the projectors after two rebalances", lambda: run.projected(stored))

    return Injected(run_traffic(run, rng, flowing, fault))


def group_members(run: Pipeline) -> int:
    admin = KafkaAdminClient(bootstrap_servers=run.kafka.bootstrap)
    try:
        described = admin.describe_groups([run.group])
    finally:
        admin.close()
    return len(described.get(run.group, {}).get("members", []))


def duplicated_delivery(run: Pipeline, rng: random.Random) -> Injected:
    """Records already on the topic sent again (as a producer retry or a replay would), to
    their own partition, while projector and router follow."""
    run.relay_in_process()
    run.start("projector")
    run.start("router")
    run.with_feeds = True
    sent: list[Read] = []

    def fault() -> float:
        on_topic = read_topic(run.kafka)
        sent.extend(rng.sample(on_topic, min(12, len(on_topic))))
        producer = KafkaProducer(bootstrap_servers=run.kafka.bootstrap, acks="all")
        try:
            for r in sent:
                producer.send(run.kafka.topic, key=r.key, value=r.value, headers=r.headers,
                              partition=r.partition)  # fmt: skip
            producer.flush(timeout=60)
        finally:
            producer.close()
        stored = run.stored_count()
        due = sum(len(ids) for ids in expected_feeds(run.kafka).values())
        return wait_until(
            "projector and router past the duplicates",
            lambda: run.projected(stored) and run.routed(due),
        )

    return Injected(
        run_traffic(run, rng, lambda _, events: run.projected(events) and run.routed(1), fault),
        duplicates_sent=sent,
    )


def shared_idempotency_key(run: Pipeline, rng: random.Random) -> Injected:
    """Eight writers (each its own LaporApp) file the same complaint under one key at once."""
    run.relay_in_process()
    apps = [open_app(run.settings) for _ in range(8)]
    answers: list[str] = []
    key = f"shared-{run.name}"[-60:]
    gate = threading.Barrier(len(apps))
    at = datetime.now(UTC) - timedelta(minutes=5)

    def file(app: LaporApp) -> None:
        command = parse_command(
            file_cmd(title="Satu laporan", idempotency_key=key, at=at.isoformat())
        )
        gate.wait(timeout=60)
        answers.append(str(app.handle(command).tracking_id))

    def fault() -> float:
        started = time.monotonic()
        threads = [threading.Thread(target=file, args=(a,)) for a in apps]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=RETRY_S)
        return time.monotonic() - started

    try:
        recovered = run_traffic(run, rng, lambda head, _: run.relay_reached(head), fault)
    finally:
        for a in apps:
            a.close()
    run.filings += 1
    # Every writer answered with the one filing: more than one tracking id is a duplicate.
    duplicates = len(set(answers)) - 1 + (len(apps) - len(answers))
    return Injected(recovered, side_effect_duplicates=duplicates)


def timers_sigkill(run: Pipeline, rng: random.Random) -> Injected:
    """Complaints ignored by their unit: the timer walks each SLA ladder (warning, breach,
    escalation to the parent, to the national desk) and is killed mid-way."""
    writer = Writer(run, 8, seed="late", overdue=True)
    run.start("timers")
    writer.start()
    mid_traffic(writer, rng)
    wait_until("the timer's first ladder step", lambda: ladder_events(run) > 0)
    run.kill("timers")
    filed = writer.commands_done // 3
    run.start("timers")
    recovered = wait_until(
        "the restarted timer to walk the ladders filed before the kill",
        lambda: ladder_complete(run, filed),
    )
    finish(writer)
    wait_until("every ladder walked", lambda: ladder_complete(run, run.ladder_complaints))
    return Injected(recovered)


LADDER_STEPS = 4  # SlaWarned, SlaBreached, Escalated to the parent, Escalated to the nation


def ladder_events(run: Pipeline) -> int:
    return sum(n for (_, name, _), n in ladder_steps(run).items())


def ladder_complete(run: Pipeline, complaints: int) -> bool:
    run.supervise()
    per_complaint = Counter(cid for (cid, _, _) in ladder_steps(run))
    done = sum(1 for n in per_complaint.values() if n >= LADDER_STEPS)
    return done >= complaints


def ladder_steps(run: Pipeline) -> Counter[tuple[str, str, str]]:
    """(complaint, event, clock or level) of every ladder event stored, with its count."""
    out: Counter[tuple[str, str, str]] = Counter()
    start = 0
    topics = tuple(t for t in complaint_event_topics() if t.rsplit(".", 1)[-1] in LADDER)
    while batch := run.app.recorder.select_notifications(
        start=start, limit=500, topics=topics, inclusive_of_start=False
    ):
        for n in batch:
            event: Any = run.app.mapper.to_domain_event(n)
            name = type(event).__name__
            detail = str(getattr(event, "level", None) or getattr(event, "clock", ""))
            out[(str(n.originator_id), name, detail)] += 1
        start = batch[-1].id
    return out


FAULTS: dict[str, Callable[[Pipeline, random.Random], Injected]] = {
    "relay SIGKILL mid-batch": relay_sigkill,
    "projector SIGKILL mid-batch": projector_sigkill,
    "feed router SIGKILL": router_sigkill,
    "broker restart while following": broker_restart,
    "PostgreSQL restart under the relay": postgres_restart_under_relay,
    "PostgreSQL restart under the projector": postgres_restart_under_projector,
    "two projectors rebalancing": two_projectors_rebalancing,
    "duplicated delivery": duplicated_delivery,
    "8 writers, one idempotency key": shared_idempotency_key,
    "timer service SIGKILL mid-escalation": timers_sigkill,
}


# ====================================================================== the full check
@dataclass
class Outcome:
    """One repeat of one fault, after its full check."""

    fault: str
    events: int = 0  # complaint events stored
    lost: int = 0
    duplicated: int = 0
    out_of_order: int = 0
    read_model_mismatches: int = 0
    side_effect_duplicates: int = 0
    recover_s: float = 0.0
    worker_exits: int = 0
    error: str | None = None  # a wait that ran out, a writer that failed

    @property
    def clean(self) -> bool:
        return self.error is None and not (
            self.lost or self.duplicated or self.out_of_order
            or self.read_model_mismatches or self.side_effect_duplicates
        )  # fmt: skip


def soak_once(the_lab: Lab, fault: str, seed: int) -> Outcome:
    """One repeat: a fresh pipeline, the fault with traffic flowing, the full check."""
    rng = random.Random(seed)
    outcome = Outcome(fault)
    with pipeline(the_lab, f"r{seed}") as run:
        try:
            injected = FAULTS[fault](run, rng)
            outcome.recover_s = round(injected.recover_s, 2)
            run.stop_all()
            full_check(run, injected, outcome)
        except Exception as exc:  # recorded, and the matrix goes on
            outcome.error = f"{type(exc).__name__}: {str(exc)[:500]}; {run.state()}"
        outcome.worker_exits = run.exits
    return outcome


def full_check(run: Pipeline, injected: Injected, outcome: Outcome) -> None:
    """Finish every stage in-process (a no-op where its worker already caught up), then
    compare topic, read models, feeds and side effects with the store."""
    Relay(run.app.recorder, run.app.mapper, run.kafka, batch_size=200).run(follow=False)
    read_model_service(run.settings).run_projector(run.group, follow=False, idle_timeout=1.0)
    if run.with_feeds:
        AgencyRouter(run.feeds, batch_size=200).run(follow=False)

    stored = stored_events(run.app)
    outcome.events = len(stored)
    lost, duplicated, disorder = topic_diff(read_topic(run.kafka), stored, injected.duplicates_sent)
    feed_lost, feed_duplicated, feed_disorder = feeds_diff(run) if run.with_feeds else (0, 0, 0)
    outcome.lost = lost + feed_lost
    outcome.duplicated = duplicated + feed_duplicated
    outcome.out_of_order = disorder + feed_disorder

    rebuild = with_read_models_at(run.settings, run.rebuild_url)
    read_model_service(rebuild).catch_up(run.app.recorder, run.app.mapper)
    outcome.read_model_mismatches = snapshot_diff(
        live_snapshot(run.settings.read_model_url, run.settings),
        live_snapshot(run.rebuild_url, rebuild),
    )

    filed = sum(1 for _, _, version in stored if version == 1)
    ladder_repeats = sum(n - 1 for n in ladder_steps(run).values())
    outcome.side_effect_duplicates = (
        injected.side_effect_duplicates + max(0, filed - run.filings) + ladder_repeats
    )
    if filed < run.filings:
        outcome.lost += run.filings - filed  # a filing the writers were told was stored


def topic_diff(
    records: Sequence[Read], stored: Sequence[tuple[int, str, int]], sent_again: Sequence[Read]
) -> tuple[int, int, int]:
    """(lost, duplicated, out of order) of the topic against the store; the records a fault
    sent again on purpose are taken off once each before counting."""

    def identity(r: Read) -> tuple[int, str, int]:
        return int(r.attributes["position"]), r.key.decode(), int(r.attributes["complaintversion"])

    extra = Counter(identity(r) for r in sent_again)
    published = Counter(identity(r) for r in records) - extra
    lost = sum(1 for e in stored if published[e] == 0)
    duplicated = sum(n - 1 for n in published.values() if n > 1)
    duplicated += sum(1 for e in published if e not in set(stored))
    seen: dict[str, list[int]] = defaultdict(list)
    partitions: dict[str, set[int]] = defaultdict(set)
    for r in records:  # (partition, offset) order
        cid, version = r.key.decode(), int(r.attributes["complaintversion"])
        partitions[cid].add(r.partition)
        if version not in seen[cid]:  # a re-delivered record is a duplicate, counted above
            seen[cid].append(version)
    disorder = sum(1 for cid, vs in seen.items() if vs != sorted(vs) or len(partitions[cid]) > 1)
    return lost, duplicated, disorder


def expected_feeds(kafka: KafkaSettings) -> dict[tuple[str, str], list[str]]:
    """(agency, complaint) -> the feed's record ids, by the routing rules applied to the
    topic (a re-delivered record routes to nothing, as in the router)."""
    states: dict[str, ComplaintRoute] = {}
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for r in read_topic(kafka):
        cid = r.key.decode()
        for o in route(states.setdefault(cid, ComplaintRoute()), from_record(r.value, r.headers)):
            out[(o.agency, cid)].append(
                r.attributes["id"] if o.payload is None else feed_ce_id(o.payload)
            )
    return out


AGENCIES = ("KEMENKES", "KEMENKES.ITJEN", "KEMENSOS")


def feed_ids(feeds: FeedSettings) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = defaultdict(list)
    for agency in AGENCIES:
        topic = KafkaSettings(bootstrap=feeds.bootstrap, topic=feeds.feed(agency))
        for r in read_topic(topic):
            out[(agency, r.key.decode())].append(r.attributes["id"])
    return out


def feeds_diff(run: Pipeline) -> tuple[int, int, int]:
    """(lost, duplicated, out of order) of the agency feeds against the routing rules."""
    expected, actual = expected_feeds(run.kafka), feed_ids(run.feeds)
    assert {agency for agency, _ in expected} <= set(AGENCIES), "an agency the soak misses"
    lost = duplicated = disorder = 0
    for key in expected.keys() | actual.keys():
        want, got = expected.get(key, []), actual.get(key, [])
        lost += len(set(want) - set(got))
        duplicated += len(got) - len(set(got)) + len(set(got) - set(want))
        firsts = list(dict.fromkeys(got))
        disorder += int([i for i in firsts if i in want] != [i for i in want if i in firsts])
    return lost, duplicated, disorder


def snapshot_diff(a: dict[str, list[tuple[Any, ...]]], b: dict[str, list[tuple[Any, ...]]]) -> int:
    """Rows in one snapshot and not the other, over every table."""
    diff = 0
    for table in a.keys() | b.keys():
        left, right = Counter(map(repr, a.get(table, []))), Counter(map(repr, b.get(table, [])))
        diff += sum(((left - right) + (right - left)).values())
    return diff
