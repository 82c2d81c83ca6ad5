"""Requests per client address, as a token bucket: O(1) per request.

(Litestar's own rate limiter keeps every request time of the minute per
client and re-encodes that list on each request under one lock; measured
with bench/http.py it halved read throughput and got slower through each
minute.) The bucket holds a minute's allowance and refills continuously.

Wrong guesses on the public tracking routes are limited much more tightly,
so tracking numbers cannot be enumerated nor postcodes guessed: per
address, each unknown number looked up (a 404 from /api/v1/track/..., its
stream, or the tracking page) spends a token of a bucket of ``GUESSES``,
and each wrong postcode (the pages) one of another; with none left, those
routes answer 429 with Retry-After until it refills. Known numbers cost
nothing, and neither does the same unknown number asked again (a shop's
page polling a parcel just booked, before the views show it: enumerating
needs many numbers, not one many times).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

_MAX_CLIENTS = 100_000
# A client that waits exactly the Retry-After it was given must get its token:
# (now - last) * per_second can come out a hair under 1.0 in floating point
# (a monotonic clock of thousands of seconds, plus 360, less itself).
_ROUNDING = 1e-9
# Wrong guesses (unknown numbers, wrong postcodes) per address: 10, then one per 6 minutes.
GUESSES, GUESS_REFILL_PER_SECOND = 10, 1 / 360


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
        if tokens < 1.0 - _ROUNDING:
            return (1.0 - tokens) / self.per_second
        if take:
            if len(self.buckets) >= _MAX_CLIENTS and key not in self.buckets:
                self.buckets.clear()  # a flood of addresses: start afresh rather than grow
            self.buckets[key] = (max(0.0, tokens - 1.0), now)
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
        wait = self.limits.wait(_address(scope))
        if wait > 0:
            await _refuse(send, wait, b"too many requests from this address")
            return
        await self.app(scope, receive, send)


def guesses() -> Buckets:
    """Wrong-guess buckets (postcodes tried on the pages)."""
    return Buckets(GUESSES, GUESS_REFILL_PER_SECOND)


class UnknownNumbers:
    """Per address, the distinct unknown numbers looked up: each new one
    spends a token of the address's bucket; the last ``GUESSES`` of them
    are remembered, so asking one of those again costs nothing."""

    def __init__(self) -> None:
        self.buckets = guesses()
        self.tried: dict[str, OrderedDict[str, None]] = {}

    def wait(self, address: str) -> float:
        """0 while the address may look numbers up; else the seconds until it may."""
        return self.buckets.wait(address, take=False)

    def missed(self, address: str, number: str) -> None:
        tried = self.tried.get(address)
        if tried is None:
            if len(self.tried) >= _MAX_CLIENTS:
                self.tried.clear()  # a flood of addresses: start afresh rather than grow
            tried = self.tried[address] = OrderedDict()
        if number in tried:
            tried.move_to_end(number)
            return
        tried[number] = None
        if len(tried) > GUESSES:
            tried.popitem(last=False)
        self.buckets.wait(address)


class WrongGuesses:
    """Unknown tracking numbers looked up through the public API (``prefix``):
    each 404 is a miss in ``unknown`` (by the number in the path); with the
    address's allowance spent, 429. (The pages count theirs in the same.)"""

    def __init__(self, app: ASGIApp, unknown: UnknownNumbers,
                 prefix: str = "/api/v1/track/") -> None:
        self.app, self.unknown, self.prefix = app, unknown, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        address = _address(scope)
        wait = self.unknown.wait(address)
        if wait > 0:
            await _refuse(send, wait, b"too many unknown tracking numbers from this address")
            return

        async def counting(message: Message) -> None:
            if message["type"] == "http.response.start" and message["status"] == 404:
                number = scope["path"][len(self.prefix):].partition("/")[0].upper()
                self.unknown.missed(address, number)
            await send(message)

        await self.app(scope, receive, counting)


def _address(scope: Scope) -> str:
    client = scope.get("client")
    return client[0] if client else "unknown"


async def _refuse(send: Send, wait: float, why: bytes) -> None:
    retry_after = str(max(1, int(wait + 0.999)))
    body = (b'{"status_code":429,"detail":"' + why + b"; try again in "
            + retry_after.encode() + b' s"}')
    headers: list[Any] = [(b"content-type", b"application/json"),
                          (b"retry-after", retry_after.encode()),
                          (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 429, "headers": headers})
    await send({"type": "http.response.body", "body": body})
