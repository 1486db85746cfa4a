"""The read models lapor-es maintains, by name. Runners and `lapor-es project` use this."""

from __future__ import annotations

from sqlalchemy import MetaData

from lapor_es.projections.core import ReadModel
from lapor_es.workflow import WorkingCalendar

MODEL_NAMES = ("complaints", "inbox", "timeline", "deadlines")


def read_models(
    calendar: WorkingCalendar,
    *,
    names: tuple[str, ...] = MODEL_NAMES,
    prefix: str = "",
    table_metadata: MetaData | None = None,
) -> list[ReadModel]:
    """Instances of the named read models (live tables, or prefixed ones for a rebuild)."""
    from lapor_es.readmodels.complaints import ComplaintsModel
    from lapor_es.readmodels.deadlines import DeadlinesModel
    from lapor_es.readmodels.inbox import InboxModel
    from lapor_es.readmodels.timeline import TimelineModel

    classes: dict[str, type[ReadModel]] = {
        "complaints": ComplaintsModel,
        "inbox": InboxModel,
        "timeline": TimelineModel,
        "deadlines": DeadlinesModel,
    }
    unknown = set(names) - set(classes)
    if unknown:
        raise ValueError(f"unknown read model(s): {', '.join(sorted(unknown))}")
    return [
        classes[name](calendar=calendar, prefix=prefix, table_metadata=table_metadata)  # type: ignore[call-arg]
        for name in names
    ]
