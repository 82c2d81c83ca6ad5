"""/readyz answers 503 naming what failed: the broker gone (a private
Mosquitto stopped), the database gone (a TCP relay to the real PostgreSQL
closed), and ready again once they are back."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from litestar.testing import TestClient

from adapters.composition import build_api, build_consumer, build_dead_letters, build_service
from adapters.health import OpsServer, Readiness, register
from adapters.http.app import create_app
from adapters.http.metrics import Metrics
from adapters.mqtt.consumer import BrokerAddress
from adapters.settings import Settings
from tests.integration.test_deploy import need
from tests.ports import free_port, listening
from tests.waiting import eventually


class Relay:
    """Forwards 127.0.0.1:port to a server; ``close`` drops the listener and
    every connection (the server is unreachable), ``open`` listens again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self.sockets: list[socket.socket] = []
        self.listener: socket.socket | None = None

    def open(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        for s in (source, sink):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        assert self.listener is not None
        try:
            self.listener.shutdown(socket.SHUT_RDWR)  # wakes the thread blocked in accept()
        except OSError:
            pass
        self.listener.close()
        for s in self.sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()
        self.sockets.clear()


@pytest.mark.postgres
def test_readyz_names_the_event_store_while_the_database_is_unreachable(
    postgres_schema_url: str,
) -> None:
    relay = Relay(("127.0.0.1", 5432))
    relay.open()
    url = postgres_schema_url.replace("127.0.0.1:5432", f"127.0.0.1:{relay.port}")
    api = build_api(Settings(database_url=url), run_projections=False)
    try:
        with TestClient(app=create_app(api)) as client:
            assert client.get("/readyz").status_code == 200
            relay.close()
            r = client.get("/readyz")
            assert r.status_code == 503 and set(r.json()["failed"]) == {"event_store"}
            assert "event_store" in r.json()["detail"]
            relay.open()
            eventually(lambda: client.get("/readyz").status_code == 200, timeout=20,
                       what="ready again once the database is back")
    finally:
        relay.close()


@pytest.fixture
def stoppable_broker() -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    need("mosquitto")
    port = free_port()
    process = subprocess.Popen(["mosquitto", "-p", str(port)], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    eventually(lambda: listening(port), timeout=10, what="the private mosquitto listens")
    yield port, process
    if process.poll() is None:
        process.kill()
        process.wait(10)


def test_readyz_names_the_broker_while_the_consumer_is_disconnected(
    tmp_path: Any, stoppable_broker: tuple[int, subprocess.Popen[bytes]]
) -> None:
    """As `tracking ingest` runs it: the consumer, and /readyz and /metrics on
    the metrics port."""
    port, broker = stoppable_broker
    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db", mqtt_url=f"mqtt://127.0.0.1:{port}")
    service, letters, metrics = build_service(settings), build_dead_letters(settings), Metrics()
    consumer = build_consumer(settings, service, letters, metrics=metrics, session_expiry=60,
                              broker=BrokerAddress("127.0.0.1", port)).start()
    register(metrics, service, consumer=consumer, dead_letters=letters)
    readiness = Readiness(service, None, None, consumer)
    server = OpsServer("127.0.0.1", free_port(), metrics, readiness).start()
    base = f"http://127.0.0.1:{server.port}"
    try:
        eventually(lambda: httpx.get(f"{base}/readyz").status_code == 200, timeout=10,
                   what="ready once connected")
        assert "\ntracking_broker_connected 1\n" in httpx.get(f"{base}/metrics").text
        broker.terminate()
        broker.wait(10)
        r = eventually(lambda: (r := httpx.get(f"{base}/readyz")).status_code == 503 and r,
                       timeout=10, what="not ready once the broker is gone")
        assert set(r.json()["failed"]) == {"broker"}
        assert "\ntracking_broker_connected 0\n" in httpx.get(f"{base}/metrics").text
        assert httpx.get(f"{base}/livez").status_code == 200  # alive all the same
    finally:
        server.stop()
        consumer.stop()
        readiness.close()
        letters.close()
        service.close()


def test_tracking_health_exits_0_only_when_the_process_is_ready(
    tmp_path: Any, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from adapters.cli import main

    settings = Settings(database_url=f"sqlite:///{tmp_path}/t.db")
    service = build_service(settings)
    readiness = Readiness(service, None, None, None)
    server = OpsServer("127.0.0.1", free_port(), Metrics(), readiness).start()
    monkeypatch.setenv("TRACKING_DATABASE_URL", settings.database_url)
    try:
        monkeypatch.setenv("TRACKING_METRICS_PORT", str(server.port))
        assert main(["health"]) == 0 and '"status": "ready"' in capsys.readouterr().out
        service.close()  # its store no longer answers
        assert main(["health"]) == 1 and "event_store" in capsys.readouterr().err
        assert main(["health", "--live"]) == 0
        monkeypatch.setenv("TRACKING_METRICS_PORT", str(free_port()))  # nothing listens
        assert main(["health", "--live"]) == 1
    finally:
        server.stop()
        readiness.close()
