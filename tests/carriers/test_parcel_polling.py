"""Polling a parcel carrier (DHL Unified-API shape) against a real HTTP
server on 127.0.0.1 that stands in for the carrier, recording into the real
store: it backs off on 429 and 5xx as the carrier asks, resumes after, keeps
to the rate limit, and stops polling what is delivered or expired. Time is
a fake the test moves: nothing here waits or measures how long anything took."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from adapters.carriers.masterdata import MasterData
from adapters.composition import build_poller, build_runner, build_service, build_view_store
from adapters.carriers.polling import ParcelClient, Poller
from adapters.http.metrics import Metrics
from adapters.settings import CarrierSettings, Settings
from tests.builders import AGENT, booking, route, scan
from tests.carriers.conftest import MASTER_DATA, NOW
from tests.conftest import ServiceFactory
from tracking.application import ShipmentService
from tracking.codes import Status
from tracking.identifiers import TrackingNumber

TN = "JJD000390007795"
OTHER = "JJD000390007796"
KEY = "dhl-api-key"


def dhl_answer(tn: str, *, delivered: bool) -> dict[str, Any]:
    """The documented response shape of GET /track/shipments."""
    events = [
        {"timestamp": "2026-11-20T07:53:47+08:00", "statusCode": "transit",
         "status": "PROCESSED AT HONG KONG", "description": "Processed at Hong Kong",
         "location": {"address": {"countryCode": "HK", "addressLocality": "Hong Kong"}}},
        {"timestamp": "2026-11-21T06:00:00+08:00", "statusCode": "pre-transit",
         "status": "INFORMATION RECEIVED", "description": "Shipment information received"},
    ]
    if delivered:
        events.insert(0, {"timestamp": "2026-11-23T14:00:00+01:00", "statusCode": "delivered",
                          "status": "DELIVERED", "description": "Delivered - Signed for by A",
                          "location": {"address": {"countryCode": "SE",
                                                   "addressLocality": "Stockholm, Sweden"}}})
    status = events[0]
    return {"shipments": [{"id": tn, "service": "express", "status": status, "events": events}]}


class Carrier:
    """The stand-in carrier: answers from a script of (status, headers, body)
    and remembers every request."""

    def __init__(self) -> None:
        self.script: list[tuple[int, dict[str, str], Any]] = []
        self.requests: list[tuple[str, str | None]] = []
        self.delivered = False
        carrier = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 - http.server's name
                url = urlsplit(self.path)
                tn = parse_qs(url.query).get("trackingNumber", [""])[0]
                carrier.requests.append((tn, self.headers.get("DHL-API-Key")))
                if carrier.script:
                    status, headers, body = carrier.script.pop(0)
                elif url.path != "/track/shipments":
                    status, headers, body = 404, {}, {"title": "Not found"}
                else:
                    status, headers, body = 200, {}, dhl_answer(tn, delivered=carrier.delivered)
                payload = json.dumps(body).encode()
                self.send_response(status)
                for k, v in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def polled(self) -> list[str]:
        return [tn for tn, _ in self.requests]


@pytest.fixture
def dhl() -> Iterator[Carrier]:
    carrier = Carrier()
    thread = threading.Thread(target=carrier.server.serve_forever, daemon=True)
    thread.start()
    yield carrier
    carrier.server.shutdown()
    carrier.server.server_close()


class FakeTime:
    def __init__(self) -> None:
        self.now = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


@pytest.fixture
def service(make_service: ServiceFactory) -> ShipmentService:
    return make_service(clock=lambda: NOW)


def poller(service: ShipmentService, dhl: Carrier, time: FakeTime, tmp_path: Path,
           watch: list[str]) -> Poller:
    master = tmp_path / "master.toml"
    master.write_text(MASTER_DATA)
    return Poller(service, ParcelClient(dhl.url, KEY), lambda: watch, carrier_name="dhl",
                  requests_per_minute=30, expire_after=timedelta(days=60),
                  master=MasterData.load(master), metrics=Metrics(),
                  monotonic=time.monotonic, sleep=time.sleep)


def book(service: ShipmentService, tn: str, carrier: str = "dhl") -> None:
    service.book(TrackingNumber(tn), booking(carrier=carrier), route(), AGENT)


def scans(service: ShipmentService, tn: str) -> list[str]:
    return [s.event.value for s in service.get(tn).scans]


def test_polling_backs_off_on_429_as_told_and_resumes(service, dhl, tmp_path) -> None:
    book(service, TN)
    time = FakeTime()
    p = poller(service, dhl, time, tmp_path, [TN])
    dhl.script.append((429, {"Retry-After": "120"}, {"title": "Too many requests"}))

    first = p.poll_once()
    assert first.backed_off_for == 120 and first.recorded == 0
    assert dhl.requests == [(TN, KEY)]
    assert scans(service, TN) == []

    time.now += 119  # still inside the back-off: the carrier is not asked
    assert p.poll_once().backed_off_for == pytest.approx(1)
    assert len(dhl.requests) == 1

    time.now += 2
    resumed = p.poll_once()
    assert resumed.backed_off_for is None and resumed.recorded == 2
    assert scans(service, TN) == ["ARRIVED"]  # pre-transit is a note, as the carrier said it
    assert [type(e).__name__ for e in service.history(TN)][2:] == [
        "ScanRecorded", "CarrierEventNoted"]
    assert p.poll_once().recorded == 0  # polled again: nothing new, nothing twice


def test_a_5xx_without_retry_after_backs_off_exponentially(service, dhl, tmp_path) -> None:
    book(service, TN)
    time = FakeTime()
    p = poller(service, dhl, time, tmp_path, [TN])
    dhl.script += [(503, {}, {}), (502, {}, {})]
    assert p.poll_once().backed_off_for == 4.0  # 2 s between requests (30/min), doubled
    time.now += 4
    assert p.poll_once().backed_off_for == 8.0  # and doubled again
    time.now += 8
    assert p.poll_once().recorded == 2


def test_polling_keeps_to_the_rate_limit_and_polls_only_its_own_carrier(service, dhl,
                                                                         tmp_path) -> None:
    book(service, TN)
    book(service, OTHER)
    book(service, "JJD000390007797", carrier="postnord")
    time = FakeTime()
    p = poller(service, dhl, time, tmp_path, [TN, "JJD000390007797", OTHER, "UNBOOKED1"])
    done = p.poll_once()
    assert dhl.polled() == [TN, OTHER]
    assert time.slept == [2.0]  # 30 requests a minute: 2 s apart
    assert done.recorded == 4


def test_polling_stops_for_a_delivered_or_expired_shipment(service, dhl, tmp_path) -> None:
    book(service, TN)
    dhl.delivered = True
    time = FakeTime()
    p = poller(service, dhl, time, tmp_path, [TN])
    assert p.poll_once().finished == [TN]
    assert service.delivery(TN).status is Status.DELIVERED
    assert p.poll_once().polled == []
    assert len(dhl.requests) == 1

    book(service, OTHER)
    expired = poller(service, dhl, time, tmp_path, [OTHER])
    # Booked longer ago than the expiry (60 days): no longer polled.
    service.clock = lambda: datetime.now(UTC) + timedelta(days=61)
    assert expired.poll_once().finished == [OTHER]
    assert len(dhl.requests) == 1


def test_the_composed_poller_asks_about_unfinished_shipments_from_the_views(
        database_url, dhl, tmp_path) -> None:
    master = tmp_path / "master.toml"
    master.write_text(MASTER_DATA)
    settings = Settings(database_url=database_url, carriers=CarrierSettings(
        parcel_api_url=dhl.url, parcel_api_key=KEY, master_data=master,
        parcel_requests_per_minute=6000))
    service = build_service(settings, clock=lambda: NOW)
    store = build_view_store(settings)
    try:
        book(service, TN)
        book(service, OTHER)
        dhl.delivered = True
        service.record_scan(scan("DELIVERED", "SESTO", 20, tn=OTHER))
        build_runner(settings, service, store).catch_up()
        done = build_poller(settings, service, store).poll_once()
        assert done.polled == [TN]  # the delivered one is not asked about
        assert done.finished == [TN] and service.delivery(TN).status is Status.DELIVERED
    finally:
        store.close()
        service.close()
