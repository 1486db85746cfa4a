"""The read models put on the projection engine: what `lapor-es project`, `dlq` and `status` run.

The engine (lapor_es.projections) knows no read model; this module is where the two meet.
`ReadModelService` works on one read-model database through an engine its caller owns and
disposes (`bootstrap.read_model_service`, or `bootstrap.projection_engine`): it builds no
engine and no settings. Each operation makes the database ready first
(`migrations.prepare`: migrate to head, views) and hands the models to a runner. `models`
can replace the registered read models (tests, tools); by default they are
`registry.read_models(settings.calendar, settings.sla_policy, names=...)`. The event store
is given as its recorder and mapper (what `LaporApp.recorder` and `.mapper` are), never as
an app.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ApplicationRecorder, Mapper
from kafka import KafkaConsumer, TopicPartition
from sqlalchemy import Engine, MetaData, func, inspect, select

from lapor_es.config import Settings
from lapor_es.kafka import clients
from lapor_es.kafka.loop import CALL_TIMEOUT_MS
from lapor_es.kafka.relay import committed_position
from lapor_es.kafka.settings import KafkaSettings
from lapor_es.projections.core import (
    BatchResult,
    Projector,
    ReadModel,
    dead_letters,
    tracking,
)
from lapor_es.projections.events import STORE_SOURCE
from lapor_es.projections.rebuild import Advance, Feed, RebuildResult
from lapor_es.projections.rebuild import rebuild as rebuild_engine
from lapor_es.projections.runners import KafkaRunner, LocalRunner, Progress, RunStats
from lapor_es.readmodels.migrations import VERSION_TABLE, current_revision, prepare, script
from lapor_es.readmodels.registry import MODEL_NAMES, read_models

DEFAULT_GROUP_ID = "lapor-es-projector"
# Above this many offsets behind, status reports the offset difference instead of
# reading the records to count them (transaction markers make the difference an overcount).
_EXACT_LAG_LIMIT = 20_000


class ReadModelService:
    """The read models on the database `engine` points at (`settings.read_model_url`).

    `settings` gives the calendar and SLA policy of the models, the batch size and the
    Kafka settings of a projector from the topic. The caller owns `engine` and disposes it.
    """

    def __init__(self, engine: Engine, settings: Settings) -> None:
        self.engine = engine
        self.settings = settings

    def models(self, names: Sequence[str] = MODEL_NAMES) -> list[ReadModel]:
        """The registered read models `names`, with the configured calendar and policy."""
        return read_models(self.settings.calendar, self.settings.sla_policy, names=tuple(names))

    def open_projector(self, models: Sequence[ReadModel]) -> Projector:
        """A Projector on the read-model database, migrated to head and with views in place."""
        prepare(self.engine, models)
        return Projector(self.engine, models)

    # ------------------------------------------------------------------- projecting
    def catch_up(
        self,
        recorder: ApplicationRecorder,
        mapper: Mapper[Any],
        names: Sequence[str] = MODEL_NAMES,
        *,
        models: Sequence[ReadModel] | None = None,
        follow: bool = False,
        stop: threading.Event | None = None,
        progress: Progress | None = None,
    ) -> RunStats:
        """In-process: apply the store's notification log to the read models (until the
        head, or forever with `follow` until `stop` is set)."""
        projector = self.open_projector(models if models is not None else self.models(names))
        runner = LocalRunner(
            recorder, mapper, projector, batch_size=self.settings.projector_batch_size
        )
        if stop is not None:
            runner.stop = stop
        return runner.run(follow=follow, progress=progress)

    def run_projector(
        self,
        group_id: str = DEFAULT_GROUP_ID,
        follow: bool = True,
        *,
        names: Sequence[str] = MODEL_NAMES,
        models: Sequence[ReadModel] | None = None,
        stop: threading.Event | None = None,
        idle_timeout: float = 5.0,
        progress: Progress | None = None,
    ) -> RunStats:
        """From Kafka, as a member of consumer group `group_id`: processes with the same
        group share the topic's partitions; each resumes a partition from the SQL tracking."""
        kafka = KafkaSettings.from_settings(self.settings)  # ValueError without a bootstrap
        projector = self.open_projector(models if models is not None else self.models(names))
        runner = KafkaRunner(
            kafka, group_id, projector, batch_size=self.settings.projector_batch_size
        )
        if stop is not None:
            runner.stop = stop
        return runner.run(follow=follow, idle_timeout=idle_timeout, progress=progress)

    def rebuild(self, name: str, feed: Feed, *, advance: Advance | None = None) -> RebuildResult:
        """Rebuild the registered read model `name` from `feed` beside the live one, then swap
        it in (see lapor_es.projections.rebuild); the views of every registered model are
        recreated in the swap."""
        calendar, policy = self.settings.calendar, self.settings.sla_policy

        def make(prefix: str, table_metadata: MetaData | None) -> ReadModel:
            return read_models(
                calendar, policy, names=(name,), prefix=prefix, table_metadata=table_metadata
            )[0]

        return rebuild_engine(
            self.engine,
            feed,
            model_factory=make,
            view_models=self.models(),
            prepare=prepare,
            advance=advance,
        )

    # ------------------------------------------------------------------- dead letters
    def open_dead_letters(self, projection: str | None = None) -> list[dict[str, Any]]:
        """Unresolved dead letters, oldest first per projection and complaint."""
        if not inspect(self.engine).has_table(dead_letters.name):
            return []
        query = select(dead_letters).where(dead_letters.c.resolved_at.is_(None))
        if projection:
            query = query.where(dead_letters.c.projection == projection)
        query = query.order_by(
            dead_letters.c.projection,
            dead_letters.c.complaint_id,
            dead_letters.c.version,
            dead_letters.c.id,
        )
        with self.engine.connect() as conn:
            return [dict(row) for row in conn.execute(query).mappings()]

    def retry_dead_letters(
        self,
        names: Sequence[str] = MODEL_NAMES,
        *,
        models: Sequence[ReadModel] | None = None,
    ) -> BatchResult:
        """Re-apply parked events (after the cause is fixed), in version order per complaint."""
        projector = self.open_projector(models if models is not None else self.models(names))
        return projector.retry_parked()

    # ------------------------------------------------------------------- status
    def status(
        self,
        *,
        recorder: ApplicationRecorder | None = None,
        group_id: str = DEFAULT_GROUP_ID,
    ) -> dict[str, Any]:
        """Where every projection is, against the store head and the topic's end.

        - `projections`: one row per tracking row (model, source, partition, offset, lag);
        - `store_head`: the store's last notification position (when `recorder` is given);
        - `relay`: the highest position committed to the topic, and how far behind the head;
        - `topic`: end offset per partition and the consumer group's committed offset and lag;
        - `dead_letters`: open dead letters per projection;
        - `schema`: the migration revision of the read-model database and the code's head.
        """
        settings = self.settings
        out: dict[str, Any] = {
            "read_model_database": _redacted(settings.read_model_url),
            "store_head": recorder.max_notification_id() or 0 if recorder is not None else None,
        }
        out.update(_database_status(self.engine))
        if settings.kafka_bootstrap:
            out.update(_kafka_status(settings, group_id, out["projections"], out["store_head"]))
        for row in out["projections"]:
            if row["source"] == STORE_SOURCE and out["store_head"] is not None:
                row["lag"] = max(0, out["store_head"] - row["offset"])
                row["lag_unit"] = "positions"
        return out


def _redacted(url: str) -> str:
    if "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"


def _database_status(engine: Engine) -> dict[str, Any]:
    tables = set(inspect(engine).get_table_names())
    with engine.connect() as conn:
        revision = current_revision(conn) if VERSION_TABLE in tables else None
        rows = (
            conn.execute(select(tracking).order_by(*tracking.primary_key.columns)).mappings().all()
            if tracking.name in tables
            else []
        )
        parked = (
            conn.execute(
                select(dead_letters.c.projection, func.count())
                .where(dead_letters.c.resolved_at.is_(None))
                .group_by(dead_letters.c.projection)
            ).all()
            if dead_letters.name in tables
            else []
        )
    return {
        "schema": {"revision": revision, "head": script().get_current_head()},
        "projections": [
            {
                "projection": r["projection"],
                "source": r["source"],
                "partition": r["partition"],
                "offset": r["offset"],
                "updated_at": r["updated_at"].isoformat(),
                "lag": None,
                "lag_unit": None,
            }
            for r in rows
        ],
        "dead_letters": {name: count for name, count in parked},
    }


def _kafka_status(
    settings: Settings, group_id: str, projections: list[dict[str, Any]], head: int | None
) -> dict[str, Any]:
    kafka = KafkaSettings.from_settings(settings)
    topic = kafka.topic
    consumer = clients.consumer(kafka, client_id="lapor-es-status")
    try:
        parts = [
            TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])
        ]
        if not parts:
            return {"topic": {"name": topic, "exists": False, "partitions": []}, "relay": None}
        ends: dict[TopicPartition, int] = consumer.end_offsets(parts)
        committed = _group_offsets(kafka, group_id)

        def behind(tp: TopicPartition, next_offset: int) -> tuple[int, str]:
            """Records still to read from `next_offset`: counted when few, as transaction
            markers take offsets too; the raw offset difference when many."""
            gap = max(0, ends[tp] - next_offset)
            if gap == 0 or gap > _EXACT_LAG_LIMIT:
                return gap, "offsets"
            return _count_records(consumer, tp, next_offset, ends[tp]), "records"

        for row in projections:
            if row["source"] == topic:
                tp = TopicPartition(topic, row["partition"])
                if tp in ends:
                    row["lag"], row["lag_unit"] = behind(tp, row["offset"] + 1)
        partitions = []
        for tp in parts:
            group_next = committed.get(tp.partition)
            lag, unit = behind(tp, group_next) if group_next is not None else (None, None)
            partitions.append(
                {
                    "partition": tp.partition,
                    "end_offset": ends[tp],
                    "group_committed": group_next,
                    "group_lag": lag,
                    "group_lag_unit": unit,
                }
            )
    finally:
        consumer.close()
    position = committed_position(kafka)
    return {
        "topic": {"name": topic, "exists": True, "group_id": group_id, "partitions": partitions},
        "relay": {
            "position": position,
            "behind_store": None if head is None else max(0, head - position),
        },
    }


def _group_offsets(kafka: KafkaSettings, group_id: str) -> dict[int, int]:
    """The consumer group's committed offsets (what the projectors commit for monitoring)."""
    topic = kafka.topic
    admin = clients.admin(kafka, client_id="lapor-es-status")
    try:
        offsets = admin.list_group_offsets({group_id: None}).get(group_id, {})
    finally:
        admin.close()
    return {
        tp.partition: meta.offset
        for tp, meta in offsets.items()
        if tp.topic == topic and meta.offset >= 0  # -1: nothing committed
    }


def _count_records(consumer: KafkaConsumer, tp: TopicPartition, start: int, end: int) -> int:
    consumer.assign([tp])
    consumer.seek(tp, start)
    count = 0
    deadline = time.monotonic() + 60
    while (consumer.position(tp, timeout_ms=CALL_TIMEOUT_MS) or 0) < end:
        if time.monotonic() > deadline:
            raise TimeoutError(f"counting records of {tp} up to offset {end} took over 60 s")
        for records in consumer.poll(timeout_ms=500).values():
            count += sum(1 for r in records if r.offset < end)
    return count
