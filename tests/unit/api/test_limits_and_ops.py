"""Body size, rate and time limits; /healthz, /readyz, /metrics."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lapor_es.api.app import create_app
from lapor_es.api.limits import RateLimiter, Timeout
from lapor_es.auth.principals import PrincipalRole
from tests.unit.api.conftest import Fixture, build_door, door_settings
from tests.unit.api.test_commands import filing


def test_a_body_over_the_limit_is_413_before_any_route(tmp_path: Path) -> None:
    door = build_door(door_settings(tmp_path, api_max_body_bytes=2048))
    with TestClient(create_app(door)) as client:
        fx = Fixture(door, client)
        fx.add("portal", PrincipalRole.CHANNEL, channel="web")
        head = door.lapor.recorder.max_notification_id()
        big = filing(description="x" * 3000)
        response = fx.post("portal", big)
        assert response.status_code == 413
        assert response.json()["code"] == "too_large"
        assert response.headers["content-type"] == "application/problem+json"
        assert door.lapor.recorder.max_notification_id() == head


def test_a_streamed_body_without_length_is_cut_off_at_the_limit(tmp_path: Path) -> None:
    door = build_door(door_settings(tmp_path, api_max_body_bytes=2048))
    with TestClient(create_app(door)) as client:
        fx = Fixture(door, client)
        fx.add("portal", PrincipalRole.CHANNEL, channel="web")

        def chunks() -> Iterator[bytes]:  # no Content-Length: chunked transfer
            yield b'{"command": "file", "title": "'
            for _ in range(30):
                yield b"x" * 100
            yield b'"}'

        response = client.post(
            "/v1/commands",
            content=chunks(),
            headers=fx.headers("portal") | {"content-type": "application/json"},
        )
        assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_a_principal_over_its_rate_gets_429_with_retry_after(tmp_path: Path) -> None:
    door = build_door(door_settings(tmp_path, api_rate_per_second=0.5, api_rate_burst=3))
    with TestClient(create_app(door)) as client:
        fx = Fixture(door, client)
        fx.add("desk", PrincipalRole.NATIONAL_ADMIN)
        fx.add("other", PrincipalRole.NATIONAL_ADMIN)
        url = "/v1/complaints/LAP-2026-0000001"
        statuses = [client.get(url, headers=fx.headers("desk")).status_code for _ in range(4)]
        assert statuses == [404, 404, 404, 429]
        limited = client.get(url, headers=fx.headers("desk"))
        assert limited.json()["code"] == "rate_limited"
        assert limited.headers["retry-after"] == "2"
        # Buckets are per principal.
        assert client.get(url, headers=fx.headers("other")).status_code == 404


def test_the_token_bucket_refills_at_its_rate() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2.0, burst=2, clock=lambda: now[0])
    assert [limiter.take("a"), limiter.take("a")] == [None, None]
    assert limiter.take("a") == 1
    now[0] = 0.5  # one token back
    assert limiter.take("a") is None
    assert limiter.take("a") == 1
    assert limiter.take("b") is None


def test_a_request_over_its_time_answers_503_timeout() -> None:
    async def slow(_: Request) -> JSONResponse:
        await asyncio.sleep(5)
        return JSONResponse({})

    async def quick(_: Request) -> JSONResponse:
        return JSONResponse({"ok": True})

    inner = Starlette(routes=[Route("/slow", slow), Route("/quick", quick)])
    client = TestClient(Timeout(inner, seconds=0.05))
    late = client.get("/slow")
    assert late.status_code == 503 and late.json()["code"] == "timeout"
    assert client.get("/quick").json() == {"ok": True}


def test_health_readiness_and_metrics(fx: Fixture) -> None:
    assert fx.client.get("/healthz").json() == {"status": "ok"}
    ready = fx.client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["checks"] == {"event_store": True, "read_models_migrated": True}
    fx.post("portal", filing())
    fx.post("portal", filing(title="x"))
    fx.client.get("/v1/complaints/LAP-2026-0000001", headers=fx.headers("desk"))
    fx.client.get("/nowhere")
    text = fx.client.get("/metrics").text
    assert (
        'lapor_http_requests_total{method="GET",route="/v1/complaints/{tracking_id}",'
        'status="200"} 1.0' in text
    )
    assert 'lapor_http_requests_total{method="GET",route="<unmatched>",status="404"} 1.0' in text
    assert 'lapor_commands_total{command="file",outcome="ok"} 1.0' in text
    assert 'lapor_commands_total{command="file",outcome="validation_error"} 1.0' in text
    assert "lapor_http_request_duration_seconds_bucket" in text


def test_readiness_fails_when_the_read_models_are_not_migrated(tmp_path: Path) -> None:
    door = build_door(door_settings(tmp_path))
    from sqlalchemy import text

    with door.read_models.begin() as conn:
        conn.execute(text("DELETE FROM projection_schema_version"))
    with TestClient(create_app(door)) as client:
        response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["read_models_migrated"] is False
