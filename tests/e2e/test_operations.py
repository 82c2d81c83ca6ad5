"""Operating the API: a log line per request with its id, readiness that
names what fails, and dead letters handled from the command line."""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.cli import main
from adapters.composition import build_api, build_dead_letters, build_runner
from adapters.deadletters import DeadLetter
from adapters.http.app import create_app
from adapters.logs import JsonFormatter, Redactor, configure
from adapters.settings import Settings
from projections.shipments import READ_MODEL as SHIPMENTS
from tests.builders import at
from tests.e2e.conftest import AGENT, MERCHANT, TOKENS, Clock
from tests.e2e.test_http import BOOKING, TN, scan
from tests.waiting import eventually


def request_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    formatter = JsonFormatter(Redactor(TOKENS))
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "tracking.http"]


def test_each_request_is_one_log_line_with_its_id_route_status_and_duration(
    client: TestClient[Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="tracking.http")
    given = client.get(f"/api/v1/track/{TN}", headers={"X-Request-ID": "req-42"})
    made = client.get("/api/v1/exceptions", headers={**AGENT, "X-Request-ID": "bad id\x7f"})
    client.get("/no/such/path")
    assert given.status_code == 404 and given.headers["x-request-id"] == "req-42"
    assert made.headers["x-request-id"] != "bad id\x7f" and len(made.headers["x-request-id"]) == 32
    first, second, third = request_lines(caplog)
    assert first["request_id"] == "req-42" and first["route"] == "/api/v1/track/{tracking_number}"
    assert (first["method"], first["status"], first["tracking_number"]) == ("GET", 404, TN)
    assert isinstance(first["duration_ms"], float)
    assert second["request_id"] == made.headers["x-request-id"] and "tracking_number" not in second
    assert (third["route"], third["status"]) == ("unmatched", 404)


def test_every_line_logged_while_answering_carries_the_request_id(
    settings: Settings, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    root = logging.getLogger()
    monkeypatch.setattr(root, "handlers", [])
    monkeypatch.setattr(sys, "excepthook", sys.excepthook)
    monkeypatch.setattr(threading, "excepthook", threading.excepthook)
    configure(Settings(log_format="json", api_tokens=TOKENS), out)
    api = build_api(settings, clock=clock)

    async def broken(_: Any) -> None:
        raise RuntimeError("the view store broke")

    with TestClient(app=create_app(api)) as client:
        monkeypatch.setattr(api.store[SHIPMENTS], "public_view_async", broken)
        r = client.get(f"/api/v1/track/{TN}", headers={"X-Request-ID": "req-500"})
    assert r.status_code == 500
    lines = [json.loads(x) for x in out.getvalue().splitlines()]
    [error] = [x for x in lines if x["level"] == "error"]
    assert error["request_id"] == "req-500" and "the view store broke" in error["exc"]
    [request] = [x for x in lines if x["logger"] == "tracking.http"]
    assert (request["request_id"], request["status"]) == ("req-500", 500)


def test_no_personal_data_or_token_in_the_request_lines(
    client: TestClient[Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT).status_code == 201
    client.get(f"/api/v1/shipments/{TN}", headers=AGENT)
    text = "\n".join(json.dumps(line) for line in request_lines(caplog)) + caplog.text
    for value in ("Astrid Lindgren", "11122", *TOKENS):
        assert value not in text


def test_readyz_fails_naming_the_views_when_they_lag_beyond_the_bound(
    database_url: str, clock: Clock
) -> None:
    settings = Settings(database_url=database_url, api_tokens=TOKENS, ready_max_lag_seconds=1)
    api = build_api(settings, clock=clock, run_projections=False)  # as `tracking serve`
    with TestClient(app=create_app(api)) as client:
        assert client.get("/readyz").status_code == 200
        client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
        r = eventually(lambda: (r := client.get("/readyz")).status_code == 503 and r, timeout=10,
                       what="readyz fails once the booking is a second old and not projected")
        body = r.json()
        assert set(body["failed"]) == {"views"} and body["lag_events"] == 2
        assert body["status_code"] == 503 and "views" in body["detail"]
        metrics = client.get("/metrics").text
        assert 'tracking_projection_lag_events{view="shipments"} 2' in metrics
        assert 'tracking_projection_lag_seconds{view="shipments"} 0' not in metrics
        runner = build_runner(settings, api.service, api.store)
        runner.catch_up()  # as `tracking project` would
        assert client.get("/readyz").status_code == 200
        assert 'tracking_projection_lag_seconds{view="shipments"} 0' in client.get("/metrics").text


def letter(topic: str, payload: dict[str, Any] | bytes, reason: str) -> DeadLetter:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return DeadLetter(id=DeadLetter.make_id(topic, raw), received_at=datetime.now(UTC),
                      topic=topic, payload=raw, reason=reason, field="device_id")


def test_dead_letters_are_listed_and_resubmitted_from_the_command_line(
    database_url: str, client: TestClient[Any], clock: Clock,
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    clock.now = at(3)
    client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    store = build_dead_letters(Settings(database_url=database_url))
    unregistered = letter("scanners/hkg/hkg-dock-7/scans", scan("RECEIVED", "HKHKG", at(2)),
                          "device 'hkg-dock-7' is not registered")
    broken = letter("scanners/hkg/hkg-dock-7/scans", b"{not json", "not valid JSON")
    store.add([unregistered, broken])
    store.close()
    monkeypatch.setenv("TRACKING_DATABASE_URL", database_url)

    assert main(["dead-letters", "list", "--limit", "10"]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert {x["id"] for x in listed} == {unregistered.id, broken.id}

    monkeypatch.setenv("TRACKING_DEVICES", "hkg-dock-7")  # the device is registered now
    assert main(["dead-letters", "resubmit", "--all"]) == 1  # one is still not a scan
    out = capsys.readouterr().out
    assert f"{unregistered.id}: recorded" in out and f"{broken.id}: " in out
    assert main(["dead-letters", "resubmit", unregistered.id]) == 1
    assert "already re-submitted" in capsys.readouterr().out
    assert main(["dead-letters", "list"]) == 0
    assert [json.loads(x)["id"] for x in capsys.readouterr().out.splitlines()] == [broken.id]
    history = client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()
    assert history[-1]["type"] == "ScanRecorded" and history[-1]["source"] == {"kind": "agent", "id": "cli"}
