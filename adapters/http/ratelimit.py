"""Requests per client address, as a token bucket: O(1) per request.

(Litestar's own rate limiter keeps every request time of the minute per
client and re-encodes that list on each request under one lock; measured
with bench/http.py it halved read throughput and got slower through each
minute.) The bucket holds a minute's allowance and refills continuously.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from litestar.types import ASGIApp, Receive, Scope, Send

_MAX_CLIENTS = 100_000


class Buckets:
    """A token bucket per key (a client address): ``capacity`` tokens,
    refilled at ``per_second``."""

    def __init__(self, capacity: float, per_second: float) -> None:
        self.capacity = float(capacity)
        self.per_second = per_second
        self.buckets: dict[str, tuple[float, float]] = {}

    def wait(self, key: str, take: bool = True) -> float:
        """0 when the key has a token (taken, with ``take``); else the
        seconds until it has one."""
        now = time.monotonic()
        tokens, last = self.buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.per_second)
        if tokens < 1.0:
            return (1.0 - tokens) / self.per_second
        if take:
            if len(self.buckets) >= _MAX_CLIENTS and key not in self.buckets:
                self.buckets.clear()  # a flood of addresses: start afresh rather than grow
            self.buckets[key] = (tokens - 1.0, now)
        return 0.0


class RateLimit:
    def __init__(self, app: ASGIApp, per_minute: int, exclude: Sequence[str] = (),
                 limits: Buckets | None = None) -> None:
        self.app = app
        self.exclude = tuple(exclude)
        # Given when another way in (adapters/http/track.py) takes from the same buckets.
        self.limits = limits or Buckets(per_minute, per_minute / 60.0)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.exclude):
            await self.app(scope, receive, send)
            return
        client = scope.get("client")
        wait = self.limits.wait(client[0] if client else "unknown")
        if wait > 0:
            await self._refuse(send, wait)
            return
        await self.app(scope, receive, send)

    @staticmethod
    async def _refuse(send: Send, wait: float) -> None:
        retry_after = str(max(1, int(wait + 0.999)))
        body = (b'{"status_code":429,"detail":"too many requests from this address; try again in '
                + retry_after.encode() + b' s"}')
        headers: list[Any] = [(b"content-type", b"application/json"),
                              (b"retry-after", retry_after.encode()),
                              (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 429, "headers": headers})
        await send({"type": "http.response.body", "body": body})
