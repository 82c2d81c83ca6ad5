"""CORS for the public track endpoints only, so a shop's page can show its
customers where their parcel is (TRACKING_CORS_ORIGINS).

Litestar's CORSConfig applies to every route; the routes that take tokens
must not answer other sites' pages, so this small middleware answers the
preflight and marks the answers under ``/api/v1/track/`` alone. A request
from an origin not configured gets no CORS header (the browser then keeps
the answer from the page).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from litestar.datastructures import Headers, MutableScopeHeaders
from litestar.types import ASGIApp, Message, Receive, Scope, Send

PUBLIC = "/api/v1/track/"
METHODS = "GET, HEAD, OPTIONS"
# Last-Event-ID: a live-update stream's reconnection sends it.
HEADERS = "Accept, Accept-Language, Content-Language, Content-Type, Last-Event-ID"
MAX_AGE = "600"


class PublicCORS:
    def __init__(self, app: ASGIApp, origins: Collection[str]) -> None:
        self.app = app
        self.any = "*" in origins
        self.origins = frozenset(origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.origins or not scope["path"].startswith(PUBLIC):
            await self.app(scope, receive, send)
            return
        headers = Headers.from_scope(scope)
        origin = headers.get("origin")
        allowed = origin is not None and (self.any or origin in self.origins)
        if allowed and scope["method"] == "OPTIONS" and "access-control-request-method" in headers:
            await self._preflight(send, origin)  # type: ignore[arg-type]
            return

        async def marked(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer = MutableScopeHeaders.from_message(message)
                answer.add("Vary", "Origin")  # the answer depends on it: caches must keep them apart
                if allowed:
                    answer["Access-Control-Allow-Origin"] = "*" if self.any else origin  # type: ignore[assignment]
            await send(message)

        await self.app(scope, receive, marked)

    async def _preflight(self, send: Send, origin: str) -> None:
        headers: list[Any] = [
            (b"access-control-allow-origin", b"*" if self.any else origin.encode("latin-1")),
            (b"access-control-allow-methods", METHODS.encode()),
            (b"access-control-allow-headers", HEADERS.encode()),
            (b"access-control-max-age", MAX_AGE.encode()),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        await send({"type": "http.response.start", "status": 204, "headers": headers})
        await send({"type": "http.response.body", "body": b""})
