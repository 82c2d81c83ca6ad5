"""Polling DCSA ``GET /v2/events`` against a stand-in carrier on 127.0.0.1:
pages followed by Next-Page, the eventCreatedDateTime cursor moved page by
page, a 429 honoured and polling resumed from the cursor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from adapters.carriers.polling import DcsaPoller
from tests.builders import AGENT, booking, route
from tests.carriers.conftest import NOW
from tests.carriers.standin import FakeTime, Reply, StandIn
from tests.carriers.test_dcsa import TN, equipment, transport
from tests.conftest import ServiceFactory
from tracking.application import ShipmentService
from tracking.identifiers import TrackingNumber

PAGE_1 = [equipment("e-gtin", "GTIN", "2009-03-02T10:00:00+08:00"),
          equipment("e-load", "LOAD", "2009-03-03T06:00:00+08:00")]
PAGE_2 = [transport("e-depa", "DEPA", "2009-03-03T08:00:00+08:00", "HKHKG", "ACT")]
SINCE = datetime(2009, 3, 1, tzinfo=UTC)


class Dcsa(StandIn):
    """Two pages of events; the second reached by the first's Next-Page."""

    def __init__(self) -> None:
        super().__init__(self._answer)

    def _answer(self, path: str, query: dict[str, list[str]]) -> Reply:
        if path != "/v2/events":
            return 404, {}, {}
        if query.get("cursor") == ["page-2"]:
            return 200, {}, PAGE_2
        return 200, {"Next-Page": "/v2/events?cursor=page-2"}, PAGE_1

    def cursors(self) -> list[str | None]:
        return [q.get("eventCreatedDateTime:gte", [None])[0] for _, q, _ in self.requests]


@pytest.fixture
def carrier() -> Iterator[Dcsa]:
    with Dcsa() as dcsa:
        yield dcsa


@pytest.fixture
def service(make_service: ServiceFactory) -> ShipmentService:
    s = make_service(clock=lambda: NOW)
    s.book(TrackingNumber(TN), booking(destination="NLRTM"), route(), AGENT)
    return s


def poller(service: ShipmentService, carrier: Dcsa, time: FakeTime) -> DcsaPoller:
    return DcsaPoller(service, carrier.url, "ocean-key", since=SINCE, requests_per_minute=60,
                      monotonic=time.monotonic, sleep=time.sleep)


def test_pages_are_followed_and_the_cursor_moves_to_the_latest_event(service, carrier) -> None:
    p = poller(service, carrier, FakeTime())
    done = p.poll_once()
    assert done.recorded == 3
    assert [s.event.value for s in service.get(TN).scans] == ["RECEIVED", "LOADED", "DEPARTED"]
    assert carrier.cursors() == [SINCE.isoformat(), None]  # page 2 by its cursor
    assert carrier.requests[0][2].get("authorization") == "Bearer ocean-key"
    assert p.cursor == datetime(2009, 3, 5, tzinfo=UTC)  # transport events' created time
    p.poll_once()  # from the cursor again: what it asks for again is a duplicate
    assert carrier.cursors()[2] == "2009-03-05T00:00:00+00:00"
    assert len(service.get(TN).scans) == 3


def test_a_429_is_honoured_and_polling_resumes_from_the_cursor(service, carrier) -> None:
    time = FakeTime()
    p = poller(service, carrier, time)
    carrier.script.append((200, {"Next-Page": "/v2/events?cursor=page-2"}, PAGE_1))
    carrier.script.append((429, {"Retry-After": "30"}, {"message": "slow down"}))
    first = p.poll_once()
    assert (first.recorded, first.backed_off_for) == (2, 30)
    assert p.cursor == datetime(2009, 3, 2, 22, tzinfo=UTC)  # page 1's latest created, kept
    asked = len(carrier.requests)
    assert p.poll_once().backed_off_for == 30 and len(carrier.requests) == asked
    time.now += 30
    resumed = p.poll_once()
    assert resumed.recorded == 1 and resumed.backed_off_for is None
    assert carrier.cursors()[asked] == "2009-03-03T06:00:00+08:00"
    assert [s.event.value for s in service.get(TN).scans] == ["RECEIVED", "LOADED", "DEPARTED"]


def test_a_page_that_cannot_be_read_stops_the_round_without_moving_the_cursor(
        service, carrier) -> None:
    p = poller(service, carrier, FakeTime())
    broken: list[dict[str, Any]] = [{**PAGE_1[0], "eventDateTime": "not a time"}]
    carrier.script.append((200, {}, broken))
    done = p.poll_once()
    assert done.recorded == 0 and "[0].eventDateTime" in next(iter(done.refused.values()))
    assert p.cursor == SINCE
