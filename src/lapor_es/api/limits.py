"""Limits of the door: request body size, request time, and a rate per principal.

- `BodyLimit`: a body over `max_bytes` is refused with 413 before any route runs: at once
  when Content-Length says so, else as soon as the streamed bytes pass the limit.
- `Timeout`: a request still running after `seconds` answers 503 (code `timeout`). A sync
  route runs in a worker thread that cannot be cancelled: a timed-out command may still
  complete. Retrying with the same idempotency key (filings) or `expected_version` (the
  rest) makes that safe.
- `RateLimiter`: a token bucket per principal (or per client address for the public
  routes), per server process: with N processes a principal gets up to N times the rate.
  Good enough to stop a runaway client; a shared limit would need the database or a cache
  on every request.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Callable
from threading import Lock
from typing import Any

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lapor_es.api.problems import PROBLEM_JSON, problem_body

OPEN311_PREFIX = "/open311/"


async def _send_problem(send: Send, status: int, code: str, detail: str) -> None:
    await _send_json(send, status, problem_body(status, code, detail), PROBLEM_JSON)


async def _send_json(
    send: Send, status: int, document: Any, media_type: str = "application/json"
) -> None:
    body = json.dumps(document).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", media_type.encode()),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class BodyLimit:
    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        detail = f"the request body is larger than {self.max_bytes} bytes"
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
            await _send_problem(send, 413, "too_large", detail)
            return
        received = 0
        started = refused = False

        async def limited_receive() -> Message:
            # Past the limit we answer 413 ourselves and tell the app the client left: the
            # app stops reading (frameworks turn errors raised here into their own 400s).
            nonlocal received, refused
            message = await receive()
            if message["type"] == "http.request" and not refused:
                received += len(message.get("body", b""))
                if received > self.max_bytes and not started:
                    refused = True
                    await _send_problem(send, 413, "too_large", detail)
            return {"type": "http.disconnect"} if refused else message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if refused:
                return  # the 413 is the answer; whatever the app says after is dropped
            started = started or message["type"] == "http.response.start"
            await send(message)

        await self.app(scope, limited_receive, guarded_send)


class Timeout:
    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await asyncio.wait_for(self.app(scope, receive, tracking_send), self.seconds)
        except TimeoutError:
            if started:
                raise
            detail = f"the request took longer than {self.seconds:g} s; it may still complete"
            await _send_problem(send, 503, "timeout", detail)


class NoNulCharacters:
    """A path or query string carrying U+0000 (`%00`) is refused with 400 before any route:
    PostgreSQL text cannot hold it, so the query it reached would fail in the database and
    answer 500 (found by the contract fuzz). Bodies are checked by the routes that read
    them (routes.commands)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (
            b"%00" in scope.get("query_string", b"") or "\x00" in scope.get("path", "")
        ):
            detail = "the path or query holds a NUL character (%00), which no field accepts"
            if scope.get("path", "").startswith(OPEN311_PREFIX):
                # Open311 clients read the spec's error list, as the routes there answer.
                await _send_json(send, 400, [{"code": 400, "description": detail}])
            else:
                await _send_problem(send, 400, "validation_error", detail)
            return
        await self.app(scope, receive, send)


class RateLimiter:
    """Token buckets: `burst` requests at once, refilled at `rate` per second, per key."""

    MAX_KEYS = 100_000  # past this, full buckets are forgotten (they hold no information)

    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate = rate
        self.burst = burst
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._lock = Lock()

    def take(self, key: str) -> int | None:
        """None if `key` may go ahead (one token taken); else seconds until it may retry."""
        with self._lock:
            now = self.clock()
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) * self.rate)
            if tokens < 1.0:
                self._buckets[key] = (tokens, now)
                return max(1, math.ceil((1.0 - tokens) / self.rate))
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) > self.MAX_KEYS:
                self._forget_full(now)
            return None

    def _forget_full(self, now: float) -> None:
        full = [
            k
            for k, (tokens, at) in self._buckets.items()
            if tokens + (now - at) * self.rate >= self.burst
        ]
        for key in full:
            del self._buckets[key]
