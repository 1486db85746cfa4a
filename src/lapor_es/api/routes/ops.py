"""Operations: liveness, readiness, Prometheus metrics (no credentials: keep the port
internal, or put these paths behind the proxy's own rules)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from lapor_es.api.deps import DoorDep
from lapor_es.api.door import Door

router = APIRouter(tags=["operations"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def readiness(door: Door) -> dict[str, Any]:
    """Each check True/False (with the error when False): the event store answers, the
    read-model and auth schemas are at their migrations' head."""
    from lapor_es.auth import migrations as auth_migrations
    from lapor_es.readmodels import migrations as readmodel_migrations

    checks: dict[str, Any] = {}

    def check(name: str, probe: Any) -> None:
        try:
            checks[name] = bool(probe())
        except Exception as exc:  # a probe that fails is the answer: not ready
            checks[name] = False
            checks[f"{name}_error"] = f"{type(exc).__name__}: {exc}"[:300]

    def store_answers() -> bool:
        door.lapor.recorder.max_notification_id()  # raises if the database is unreachable
        return True

    check("event_store", store_answers)
    check("read_models_migrated", lambda: readmodel_migrations.is_current(door.read_models))
    if door.event_store is not None:
        check("auth_migrated", lambda: auth_migrations.is_current(door.event_store))
    return checks


@router.get(
    "/readyz",
    summary="Ready to serve: store reachable, migrations current (503 otherwise)",
    responses={503: {"description": "not ready: the failing checks are false"}},
)
def readyz(door: DoorDep) -> JSONResponse:
    checks = readiness(door)
    ready = all(v for k, v in checks.items() if not k.endswith("_error"))
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
def metrics(door: DoorDep) -> Response:
    return Response(door.metrics.render(), media_type=CONTENT_TYPE_LATEST)
