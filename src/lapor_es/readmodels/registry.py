"""The read models lapor-es maintains, by name. Runners and `lapor-es project` use this."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import MetaData

from lapor_es.projections.core import ReadModel
from lapor_es.workflow import SlaPolicy, WorkingCalendar

MODEL_NAMES = ("complaints", "inbox", "timeline", "deadlines")


def read_models(
    calendar: WorkingCalendar,
    policy: SlaPolicy,
    *,
    names: tuple[str, ...] = MODEL_NAMES,
    prefix: str = "",
    table_metadata: MetaData | None = None,
) -> list[ReadModel]:
    """Instances of the named read models (live tables, or prefixed ones for a rebuild).

    `policy` is the configured SLA policy (`settings.sla_policy`): the deadlines model
    computes each clock's next ladder step with it."""
    from lapor_es.readmodels.complaints import ComplaintsModel
    from lapor_es.readmodels.deadlines import DeadlinesModel
    from lapor_es.readmodels.inbox import InboxModel
    from lapor_es.readmodels.timeline import TimelineModel

    builders: dict[str, Callable[[str, MetaData | None], ReadModel]] = {
        "complaints": lambda pre, md: ComplaintsModel(
            calendar=calendar, prefix=pre, table_metadata=md
        ),
        "inbox": lambda pre, md: InboxModel(calendar=calendar, prefix=pre, table_metadata=md),
        "timeline": lambda pre, md: TimelineModel(calendar=calendar, prefix=pre, table_metadata=md),
        "deadlines": lambda pre, md: DeadlinesModel(
            calendar=calendar, policy=policy, prefix=pre, table_metadata=md
        ),
    }
    unknown = set(names) - set(builders)
    if unknown:
        raise ValueError(f"unknown read model(s): {', '.join(sorted(unknown))}")
    return [builders[name](prefix, table_metadata) for name in names]
