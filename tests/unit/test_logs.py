"""Log lines: JSON objects with their fields in production, text on a
terminal, and never a secret, whoever logged it."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from collections.abc import Iterator

import pytest

from adapters.http.metrics import Metrics
from adapters.logs import configure
from adapters.settings import Settings

SETTINGS = Settings.from_env({
    "TRACKING_API_TOKENS": "agent:tok-agent-1,device:tok-device-2",
    "TRACKING_DATABASE_URL": "postgresql://app:pg-secret@db:5432/tracking",
    "TRACKING_MQTT_URL": "mqtt://ingest:mq-secret@broker:1883",
    "TRACKING_LOG_FORMAT": "json",
})


@pytest.fixture(autouse=True)
def restored_logging() -> Iterator[None]:
    root = logging.getLogger()
    saved = root.handlers[:], root.level, sys.excepthook, threading.excepthook
    yield
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    sys.excepthook, threading.excepthook = saved[2], saved[3]


@pytest.fixture
def stream() -> io.StringIO:
    out = io.StringIO()
    configure(SETTINGS, out)
    return out


def test_a_json_line_carries_the_message_and_its_fields(stream: io.StringIO) -> None:
    logging.getLogger("tracking.http").info("GET %s", "/livez", extra={"status": 200, "route": "/x"})
    [line] = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["msg"] == "GET /livez" and record["level"] == "info"
    assert record["logger"] == "tracking.http" and (record["status"], record["route"]) == (200, "/x")
    assert record["ts"].endswith("+00:00")


def test_secrets_never_reach_the_log_whoever_logs_them(stream: io.StringIO) -> None:
    log = logging.getLogger("someone.else")
    log.warning("connecting to %s", "postgresql://app:pg-secret@db:5432/tracking")
    log.warning("header: Authorization: Bearer tok-agent-1", extra={"token": "tok-device-2"})
    log.warning("broker mqtt://other:unknown-pw@host:1883 said mq-secret")
    try:
        raise RuntimeError("login failed for pg-secret")
    except RuntimeError:
        log.exception("boom")
    out = stream.getvalue()
    for secret in ("pg-secret", "tok-agent-1", "tok-device-2", "mq-secret", "unknown-pw"):
        assert secret not in out
    assert out.count("\n") == 4 and "app:***@db" in out and "Bearer ***" in out


def test_text_on_a_terminal_with_the_fields_as_key_value() -> None:
    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    out = Terminal()
    configure(Settings(), out)  # no TRACKING_LOG_FORMAT: text on a terminal
    logging.getLogger("t").info("recorded", extra={"size": 3})
    assert out.getvalue().rstrip().endswith("t: recorded size=3")
    assert not out.getvalue().startswith("{")


def test_a_histogram_counts_into_fixed_buckets_and_labelled_gauges_render_per_label() -> None:
    metrics = Metrics()
    metrics.histogram("batch", "sizes", [1, 10, 100])
    for size in (1, 5, 50, 500):
        metrics.observe("batch", size)
    metrics.gauge("lag", "per view", lambda: {"shipments": 2.0}, label="view")
    text = metrics.render()
    for line in ('batch_bucket{le="1"} 1', 'batch_bucket{le="10"} 2', 'batch_bucket{le="100"} 3',
                 'batch_bucket{le="+Inf"} 4', "batch_sum 556", "batch_count 4", "# TYPE batch histogram",
                 'lag{view="shipments"} 2'):
        assert line in text.splitlines()
    assert metrics.observed("batch") == (4, 556.0)
