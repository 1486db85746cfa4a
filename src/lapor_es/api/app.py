"""`create_app(door)`: the FastAPI application, assembled from what bootstrap built.

Middleware, outermost first: metrics (counts every answer, limits' refusals included),
body size limit, timeout, NUL characters in the path or query; then the routers. Errors
become problems (problems.install).
"""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from fastapi import FastAPI

from lapor_es.api import openapi, problems
from lapor_es.api.door import Door
from lapor_es.api.limits import BodyLimit, NoNulCharacters, RateLimiter, Timeout
from lapor_es.api.metrics import MetricsMiddleware
from lapor_es.api.routes import agencies, commands, complaints, desk, open311, ops, stats
from lapor_es.api.routes import webhooks as webhook_routes

API_VERSION = "1.0.0"
DESCRIPTION = """The front door of lapor-es: commands, complaint views, inboxes, the desk
queue, statistics. Principals authenticate with `Authorization: Bearer lpr_...`; reporters
with `X-Lapor-Tracking-Id` and `X-Lapor-Access-Code`. The actor of a command is derived from
the caller, never taken from the body. Errors are RFC 9457 problem details with a stable
`code` (the codes of `lapor-es exec`)."""

Background = Callable[[threading.Event], None]
Lifespan = Callable[[FastAPI], AbstractAsyncContextManager[None]]


def routes_app(lifespan: Lifespan | None = None) -> FastAPI:
    """The routes, error handlers and OpenAPI document, without a door (what `create_app`
    builds on, and what docs/openapi.json is generated from)."""
    app = FastAPI(title="lapor-es", version=API_VERSION, description=DESCRIPTION, lifespan=lifespan)
    problems.install(app)
    for router in (
        commands.router,
        complaints.router,
        agencies.router,
        desk.router,
        stats.router,
        open311.router,
        ops.router,
        webhook_routes.router,  # agencies' endpoints for their feed (docs/webhooks.md)
    ):
        app.include_router(router)
    document = openapi.document(app)
    app.openapi = lambda: document  # type: ignore[method-assign]
    return app


def create_app(door: Door, *, background: Background | None = None) -> FastAPI:
    """The application. `background`, if given, runs in a thread for the app's lifetime
    (`lapor-es serve --project` keeps the read models current with it) and is told to stop
    through its event when the server shuts down."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        worker = None
        if background is not None:
            worker = threading.Thread(target=background, args=(stop,), daemon=True)
            worker.start()
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                worker.join(timeout=30)
            door.close()

    app = routes_app(lifespan=lifespan)
    app.state.door = door
    settings = door.settings
    app.state.limiter = RateLimiter(settings.api_rate_per_second, settings.api_rate_burst)
    # add_middleware wraps: the last added is the outermost.
    app.add_middleware(NoNulCharacters)
    app.add_middleware(Timeout, seconds=settings.api_request_timeout_seconds)
    app.add_middleware(BodyLimit, max_bytes=settings.api_max_body_bytes)
    app.add_middleware(MetricsMiddleware, metrics=door.metrics)
    return app
