"""One log line and the request metrics per HTTP request, unmatched paths
included: an ASGI wrapper around the whole application.

The request id is the caller's ``X-Request-ID`` when it is a plausible id,
else a new one, and is sent back in ``X-Request-ID``. Routes are logged and
counted by their template (``/api/v1/track/{tracking_number:str}``), never
by raw path; the tracking number is a field of its own. Nothing of a body
or a header other than the request id is logged.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any

from litestar.types import ASGIApp, Message, Receive, Scope, Send

from adapters.http.metrics import Metrics
from adapters.logs import request_id as current_request_id

log = logging.getLogger("tracking.http")
_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")
_TRACKING_NUMBER = re.compile(r"[A-Z0-9]{6,40}")  # anything else in that place is not logged
# Probed every few seconds by health checks and scrapers: logged at DEBUG.
QUIET = frozenset({"/livez", "/readyz", "/metrics"})


def request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            given = value.decode("latin-1")
            if _REQUEST_ID.fullmatch(given):
                return given
            break
    return uuid.uuid4().hex


class RequestLog:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        metrics.counter("tracking_http_requests_total", "HTTP requests by method, route and status")
        metrics.counter("tracking_http_request_seconds_total", "Time spent answering, by route")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        rid = request_id(scope)
        status = 500  # unless a response starts

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message,  # type: ignore[assignment]
                           "headers": [*message.get("headers", ()), (b"x-request-id", rid.encode())]}
            await send(message)

        token = current_request_id.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, rid, status, time.perf_counter() - started)
            current_request_id.reset(token)

    def _record(self, scope: Scope, rid: str, status: int, seconds: float) -> None:
        route = scope.get("path_template") or "unmatched"
        method = scope["method"]
        self.metrics.inc("tracking_http_requests_total", method=method, route=route, status=str(status))
        self.metrics.inc("tracking_http_request_seconds_total", seconds, route=route)
        fields: dict[str, Any] = {"request_id": rid, "method": method, "route": route,
                                  "status": status, "duration_ms": round(seconds * 1000, 2)}
        tracking_number = str((scope.get("path_params") or {}).get("tracking_number", "")).upper()
        if _TRACKING_NUMBER.fullmatch(tracking_number):
            fields["tracking_number"] = tracking_number
        level = logging.DEBUG if scope["path"] in QUIET and status < 500 else logging.INFO
        log.log(level, "%s %s %d", method, route, status, extra=fields)
