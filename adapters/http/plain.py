"""The busiest public GETs, in their plain form, answered in front of
Litestar: ``GET /api/v1/track/{n}`` (the JSON view) and ``GET /track/{n}``
(the customer's page). Routing, dependency injection, the
``before_request`` hook, three middleware and a ``Response`` object per
request cost more than reading a view (bench/reads.py, bench/pages.py).

The plain form is a GET with no query string and no ``Origin`` (CORS is
the middleware's), of a well-formed number whose view is found, from an
address within its limits. The rate limit is the same bucket the
middleware takes from (a token is taken only once answered), and an address
past its allowance of unknown numbers goes on to Litestar, which refuses
it, as it does for known numbers too (WrongGuesses), so that nothing tells
them apart. Everything else (a query, CORS, an unknown or malformed number,
a client over a limit, an error reading) goes on to the controllers, which
answer the same way with the same tags.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from litestar.types import ASGIApp, Receive, Scope, Send

from adapters.http.ratelimit import Buckets, UnknownNumbers
from tracking.errors import InvalidInput
from tracking.identifiers import TrackingNumber


@dataclass(frozen=True)
class Answer:
    tag: str  # the ETag: strong, quoted
    body: Callable[[], bytes]  # asked only when the client does not have it (no 304)
    headers: list[tuple[bytes, bytes]]  # sent with a 304 too (besides the ETag)
    content: list[tuple[bytes, bytes]]  # sent with the body only (its type)


class PlainRoute(Protocol):
    prefix: str  # the path up to the number
    template: str  # the route's template as Litestar gives it (the access log's)

    async def answer(self, number: TrackingNumber, accept_language: str | None) -> Answer | None:
        """The answer for this number, or None to leave it to the controller."""


def matches(tag: str, if_none_match: str | None) -> bool:
    """Whether ``If-None-Match`` names this tag (weak comparison, as RFC 9110
    asks of it: ``W/"x"`` matches ``"x"``), or is ``*``."""
    if not if_none_match:
        return False
    return any(t.strip().removeprefix("W/") in (tag, "*") for t in if_none_match.split(","))


class PlainGets:
    """An ASGI wrapper answering the plain form of ``routes`` itself and
    handing every other request to ``app`` (Litestar)."""

    def __init__(self, app: ASGIApp, routes: Sequence[PlainRoute], limits: Buckets | None,
                 unknown: UnknownNumbers | None = None) -> None:
        self.app, self.routes, self.limits, self.unknown = app, tuple(routes), limits, unknown

    def _route(self, scope: Scope) -> PlainRoute | None:
        if scope["type"] != "http" or scope["method"] != "GET" or scope["query_string"]:
            return None
        path = scope["path"]
        return next((r for r in self.routes if path.startswith(r.prefix)), None)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = self._route(scope)
        if route is None:
            await self.app(scope, receive, send)
            return
        raw = scope["path"][len(route.prefix):]
        if_none_match = accept_language = None
        for name, value in scope["headers"]:
            if name == b"if-none-match":
                if_none_match = value.decode("latin-1")
            elif name == b"accept-language":
                accept_language = value.decode("latin-1")
            elif name == b"origin":
                raw = ""  # CORS: the middleware's
        client = scope.get("client")
        address = client[0] if client else "unknown"
        try:
            # Over a limit: the middleware refuses it.
            if "/" in raw or (self.limits is not None and self.limits.wait(address, take=False)) \
                    or (self.unknown is not None and self.unknown.wait(address)):
                raise LookupError
            number = TrackingNumber(raw)
        except (InvalidInput, LookupError):
            await self.app(scope, receive, send)
            return
        try:
            answer = await route.answer(number, accept_language)
            body = b"" if answer is None or matches(answer.tag, if_none_match) else answer.body()
        except Exception:  # noqa: BLE001 - the controller asks again, and answers (and logs) as ever
            answer = None
        if answer is None:
            await self.app(scope, receive, send)  # the controller's 404 (or error)
            return
        if self.limits is not None:
            self.limits.wait(address)
        scope["path_template"] = route.template  # as Litestar sets them: the access log's
        scope["path_params"] = {"tracking_number": raw}
        headers = [*answer.headers, (b"etag", answer.tag.encode())]
        if matches(answer.tag, if_none_match):
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        headers += [*answer.content, (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})
