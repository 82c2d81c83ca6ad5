"""Health and metrics of a process, for the API's /readyz and /metrics and
for the small HTTP server that ``tracking ingest`` and ``tracking project``
run on TRACKING_METRICS_PORT.

Ready means: the event store answers, the views answer and lag the log by
no more than TRACKING_READY_MAX_LAG_SECONDS, the projection runner (if this
process has one) is running, and the scan consumer (if it has one) is
connected to its broker and has not found its session taken over by another
consumer with its client id. Each check is bounded in time, so a store that
hangs makes /readyz answer 503, not hang.
"""

from __future__ import annotations

import json
import logging
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as CheckTimeout
from dataclasses import dataclass
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, TypeVar

from adapters.deadletters import DeadLetterStore
from adapters.metrics import Metrics
from adapters.mqtt.consumer import ScanConsumer
from projections.readmodel import View, Views
from projections.runner import ReadModelRunner
from tracking.application import ShipmentService

log = logging.getLogger(__name__)
T = TypeVar("T")
CHECK_TIMEOUT = 3.0


def view_lag(service: ShipmentService, store: Views | View[Any]) -> tuple[int, int, float]:
    """The view's position (of all: the one furthest behind), how many events
    of the log it has not processed, and for how long (seconds since the
    oldest of them was recorded)."""
    log_position, view_position = service.position(), store.position()
    if view_position >= log_position:
        return view_position, 0, 0.0
    [first] = service.recorder.select_notifications(start=view_position + 1, limit=1)
    recorded_at = service.mapper.to_domain_event(first).timestamp
    seconds = max(0.0, (datetime.now(UTC) - recorded_at).total_seconds())
    return view_position, log_position - view_position, seconds


def consuming(consumer: ScanConsumer) -> dict[str, Any]:
    """What the consumer subscribes as and what it took: with a group, each
    member's figures show its share of what was published."""
    recorded = consumer.metrics.value("tracking_scans_total", result="recorded", ingress="mqtt")
    return {"client_id": consumer.client_id, "subscription": consumer.topic,
            "messages": int(consumer.metrics.value("tracking_scans_received_total", ingress="mqtt")),
            "recorded": int(recorded)}


@dataclass
class Readiness:
    service: ShipmentService
    store: Views | None = None
    runner: ReadModelRunner | None = None
    consumer: ScanConsumer | None = None
    max_lag_seconds: float = 60.0

    def __post_init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="readyz")

    def _bounded(self, check: Any) -> Any:
        future = self._pool.submit(check)
        try:
            return future.result(CHECK_TIMEOUT)
        except CheckTimeout:
            raise TimeoutError(f"no answer within {CHECK_TIMEOUT:g} s") from None

    def check(self) -> tuple[bool, dict[str, Any]]:
        """Whether ready, and a body saying what was checked and what failed."""
        failed: dict[str, str] = {}
        body: dict[str, Any] = {}
        try:
            body["log_position"] = self._bounded(self.service.position)
        except Exception as e:  # noqa: BLE001 - any failure means not ready
            failed["event_store"] = f"does not answer: {type(e).__name__}: {e}"
        if self.store is not None and "event_store" not in failed:
            try:
                position, events, seconds = self._bounded(lambda: view_lag(self.service, self.store))
                body |= {"view_position": position, "lag_events": events,
                         "lag_seconds": round(seconds, 3)}
                if seconds > self.max_lag_seconds:
                    failed["views"] = (f"{events} events behind the log, the oldest recorded "
                                       f"{seconds:.0f} s ago (bound {self.max_lag_seconds:g} s)")
            except Exception as e:  # noqa: BLE001
                failed["views"] = f"do not answer: {type(e).__name__}: {e}"
        if self.runner is not None and self.runner.error is not None:
            failed["projection_runner"] = f"stopped: {self.runner.error!r}"
        if self.consumer is not None:
            body["mqtt"] = consuming(self.consumer)
            if self.consumer.fault is not None:
                failed["broker"] = self.consumer.fault
            elif not self.consumer.connected.is_set():
                failed["broker"] = f"not connected to {self.consumer.broker.host}:{self.consumer.broker.port}"
        if failed:
            detail = "not ready: " + "; ".join(f"{k} {v}" for k, v in failed.items())
            return False, {"status_code": 503, "detail": detail, "status": "not ready",
                           "failed": failed, **body}
        return True, {"status": "ready", **body}

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def register(metrics: Metrics, service: ShipmentService, *, store: Views | None = None,
             consumer: ScanConsumer | None = None,
             dead_letters: DeadLetterStore | None = None) -> None:
    """The gauges of a process's parts, read when /metrics is scraped."""
    metrics.gauge("tracking_event_log_position", "Position of the last recorded event",
                  service.position)
    if store is not None:
        metrics.gauge("tracking_view_position", "Position each view has processed",
                      lambda: {m.name: v.position() for m, v in store}, label="view")
        metrics.gauge("tracking_projection_lag_events", "Events recorded but not yet in the view",
                      lambda: {m.name: view_lag(service, v)[1] for m, v in store}, label="view")
        metrics.gauge("tracking_projection_lag_seconds",
                      "Age of the oldest event not yet in the view (0 when caught up)",
                      lambda: {m.name: view_lag(service, v)[2] for m, v in store},
                      label="view")
    if dead_letters is not None:
        metrics.gauge("tracking_dead_letters", "Dead letters stored", dead_letters.count)
    if consumer is not None:
        metrics.gauge("tracking_broker_connected", "Whether the scan consumer is connected (1) or not (0)",
                      lambda: float(consumer.connected.is_set()))


class OpsServer:
    """/livez, /readyz and /metrics on a port of their own, for the processes
    that have no API (stdlib server in a thread: scraped rarely)."""

    def __init__(self, host: str, port: int, metrics: Metrics, readiness: Readiness) -> None:
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
                path = self.path.split("?", 1)[0]
                if path == "/livez":
                    outer._send(self, 200, {"status": "ok"})
                elif path == "/readyz":
                    ready, body = readiness.check()
                    outer._send(self, 200 if ready else 503, body)
                elif path == "/metrics":
                    outer._send(self, 200, metrics.render().encode(), "text/plain; version=0.0.4")
                else:
                    outer._send(self, 404, {"status_code": 404, "detail": f"no {path} here"})

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                log.debug("ops request: " + format, *args)

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, name="ops-http", daemon=True)

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, body: Any,
              content_type: str = "application/json") -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def start(self) -> OpsServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
