"""The embedded default when its port is taken: nothing published the way
the README says is lost. A real Mosquitto on the port is consumed from;
anything else there moves the embedded broker to a free port, and the log
line gives the exact `mosquitto_pub` to use. No traceback either way."""

from __future__ import annotations

import json
import logging
import shlex
import socket
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import create_app
from adapters.settings import Settings
from tests.builders import at
from tests.e2e.conftest import MERCHANT, TOKENS, Clock
from tests.e2e.test_http import BOOKING, TN, scan
from tests.integration.test_deploy import need
from tests.readme import curl_body, sh_block
from tests.ports import free_port, listening
from tests.waiting import eventually



@pytest.fixture
def mosquitto_on_a_port() -> Iterator[int]:
    """A Mosquitto of the test's own, where the embedded broker would listen."""
    need("mosquitto")
    port = free_port()
    process = subprocess.Popen(["mosquitto", "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    eventually(lambda: listening(port), timeout=10, what="the private mosquitto listens")
    yield port
    process.kill()
    process.wait(10)


@pytest.fixture
def not_mqtt_on_a_port() -> Iterator[int]:
    """Something on the port that takes connections and is not MQTT."""
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def tracking_all(database_url: str, port: int, clock: Clock | None) -> TestClient[Any]:
    """What `tracking all` builds, with the embedded broker's port set."""
    settings = Settings(database_url=database_url, api_tokens=TOKENS, mqtt_embedded_port=port)
    return TestClient(app=create_app(build_api(settings, clock=clock, run_ingest=True)))


def publish(command: str) -> None:
    need("mosquitto_pub")
    run = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=15)
    assert run.returncode == 0, run.stderr


def readme_publish(port: int) -> str:
    """The README's `mosquitto_pub` of a scan, sent to ``port``."""
    block = sh_block("Scans over MQTT", "mosquitto_pub")
    return block.replace("mosquitto_pub ", f"mosquitto_pub -p {port} ", 1)


def no_traceback(caplog: pytest.LogCaptureFixture) -> bool:
    return not [r for r in caplog.records if r.exc_info or r.levelno >= logging.ERROR]


def test_a_mosquitto_on_the_port_is_consumed_from_and_the_readme_publish_is_recorded(
    database_url: str, mosquitto_on_a_port: int, caplog: pytest.LogCaptureFixture,
) -> None:
    port = mosquitto_on_a_port
    booking = curl_body(sh_block("Quick start", "/api/v1/shipments"), "/api/v1/shipments")
    with caplog.at_level(logging.INFO), tracking_all(database_url, port, None) as client:
        assert client.post("/api/v1/shipments", content=booking, headers=MERCHANT).status_code == 201
        eventually(lambda: client.get("/readyz").status_code == 200, what="consuming")
        publish(readme_publish(port))
        view = eventually(lambda: (v := client.get(f"/api/v1/track/{TN}").json()).get("events")
                          and v)
        assert view["events"][0]["event"] == "DEPARTED"  # the README's scan
    said = [r.getMessage() for r in caplog.records if "already has an MQTT broker" in r.getMessage()]
    assert len(said) == 1 and f"port {port}" in said[0] and "consuming scans from it" in said[0]
    assert no_traceback(caplog)


def test_something_else_on_the_port_moves_the_embedded_broker_and_the_line_says_where(
    database_url: str, not_mqtt_on_a_port: int, caplog: pytest.LogCaptureFixture,
) -> None:
    taken, clock = not_mqtt_on_a_port, Clock(at(3))
    with caplog.at_level(logging.INFO), tracking_all(database_url, taken, clock) as client:
        assert client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
        [line] = [r.getMessage() for r in caplog.records if "mosquitto_pub -p" in r.getMessage()]
        assert f"port {taken} is taken" in line
        printed = line.split("publish there: ", 1)[1]  # the exact command printed
        assert printed.endswith(" -m '<scan JSON>'") and f"-p {taken} " not in printed
        eventually(lambda: client.get("/readyz").status_code == 200, what="consuming")
        body = json.dumps(scan("RECEIVED", "HKHKG", at(2)))
        publish(printed.replace("'<scan JSON>'", shlex.quote(body)))
        view = eventually(lambda: (v := client.get(f"/api/v1/track/{TN}").json()).get("events")
                          and v)
        assert view["events"][0]["event"] == "RECEIVED"
    assert no_traceback(caplog)
