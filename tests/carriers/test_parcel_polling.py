"""Polling a parcel carrier (DHL Unified-API shape) against a real HTTP
server on 127.0.0.1 that stands in for the carrier, recording into the real
store: it backs off on 429 and 5xx as the carrier asks, resumes after, keeps
to the rate limit, and stops polling what is delivered or expired. Time is
a fake the test moves: nothing here waits or measures how long anything took."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from adapters.carriers.masterdata import MasterData
from adapters.composition import build_poller, build_runner, build_service, build_view_store
from adapters.carriers.polling import ParcelClient, Poller
from adapters.http.metrics import Metrics
from adapters.settings import CarrierSettings, Settings
from tests.builders import AGENT, booking, route, scan
from tests.carriers.conftest import MASTER_DATA, NOW
from tests.carriers.standin import FakeTime, Reply, StandIn
from tests.conftest import ServiceFactory
from tests.ports import free_port
from tests.waiting import eventually
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


class Carrier(StandIn):
    """The stand-in DHL: every shipment in transit, or delivered once told."""

    def __init__(self) -> None:
        super().__init__(self._answer)
        self.delivered = False

    def _answer(self, path: str, query: dict[str, list[str]]) -> Reply:
        if path != "/track/shipments":
            return 404, {}, {"title": "Not found"}
        tn = query.get("trackingNumber", [""])[0]
        return 200, {}, dhl_answer(tn, delivered=self.delivered)

    @property
    def polled_with_keys(self) -> list[tuple[str, str | None]]:
        return [(q["trackingNumber"][0], h.get("DHL-API-Key")) for _, q, h in self.requests]

    def polled(self) -> list[str]:
        return [tn for tn, _ in self.polled_with_keys]


@pytest.fixture
def dhl() -> Iterator[Carrier]:
    with Carrier() as carrier:
        yield carrier


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
    assert dhl.polled_with_keys == [(TN, KEY)]
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


def test_tracking_poll_runs_as_a_process_and_stops_on_sigterm(database_url, dhl,
                                                              tmp_path) -> None:
    settings = Settings(database_url=database_url)
    service = build_service(settings)
    store = build_view_store(settings)
    try:
        book(service, TN)
        build_runner(settings, service, store).catch_up()  # the views it asks
        master = tmp_path / "master.toml"
        master.write_text(MASTER_DATA)
        port = free_port()
        env = {**os.environ, "TRACKING_DATABASE_URL": database_url,
               "TRACKING_PARCEL_API_URL": dhl.url, "TRACKING_PARCEL_API_KEY": KEY,
               "TRACKING_CARRIER_MASTER_DATA": str(master), "TRACKING_METRICS_PORT": str(port),
               "TRACKING_LOG_FORMAT": "text"}
        process = subprocess.Popen([sys.executable, "-m", "adapters.cli", "poll"], env=env,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        try:
            eventually(lambda: len(service.history(TN)) == 4, what="the polled events recorded")
            assert dhl.polled() == [TN]
            # Its events are counted on its own metrics port, as the API counts pushed ones.
            metrics = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
            assert 'tracking_carrier_events_total{code_class="mapped",source="parcel"} 1' in metrics
            assert ('tracking_carrier_events_total{code_class="no_equivalent",source="parcel"} 1'
                    in metrics)
            assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5).status_code == 200
        finally:
            process.send_signal(signal.SIGTERM)
            _, err = process.communicate(timeout=20)
        assert process.returncode == 0, err.decode()
        assert b"polled dhl: 1 requests, 2 events recorded" in err
    finally:
        store.close()
        service.close()
