"""The public tracking route, served by its controller alone: given only
the shipments and links views (no service, so nothing can be replayed), it
answers the shipment's own number, a later carrier's number handed over to
it, and 404 for a number neither view knows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from litestar.di import Provide
from litestar.testing import TestClient, create_test_client

from adapters.http.errors import HANDLERS
from adapters.http.track import TrackController
from projections.links import MemoryLinksView
from projections.lookup import NumberLookup
from projections.shipments import MemoryShipmentsView, ShipmentChanges, StatusRow
from tracking.identifiers import shipment_id

BOOKED = "LX123456785CN"
LATER = "JJD0099887766"  # the number a later carrier tracks it by
VIEW = b'{"tracking_number":"LX123456785CN","status":"IN_TRANSIT"}'


def row(tracking_number: str, public_view: bytes) -> StatusRow:
    return StatusRow(
        shipment_id=shipment_id(tracking_number), tracking_number=tracking_number, booked=True,
        status="IN_TRANSIT", unfinished=True, may_stall=True,
        last_activity_at=datetime(2009, 3, 2, tzinfo=UTC), position=1, projected=b"{}",
        public_view=public_view, full_view=public_view,
    )


@pytest.fixture
def client() -> Iterator[TestClient[Any]]:
    shipments = MemoryShipmentsView("shipments")
    shipments.commit(ShipmentChanges([row(BOOKED, VIEW)], [], []), after=0, position=1)
    links = MemoryLinksView("links")
    links.commit({LATER: BOOKED}, after=0, position=1)
    lookup = NumberLookup(shipments, links)
    with create_test_client(
        route_handlers=[TrackController],
        dependencies={"lookup": Provide(lambda: lookup, sync_to_thread=False)},
        exception_handlers=HANDLERS,  # type: ignore[arg-type]
    ) as client:
        yield client


def test_a_booked_number_is_tracked_from_the_shipments_view(client: TestClient[Any]) -> None:
    r = client.get(f"/track/{BOOKED}")
    assert r.status_code == 200
    assert r.content == VIEW


def test_a_later_carriers_number_finds_the_shipment_through_the_links_view(
    client: TestClient[Any],
) -> None:
    r = client.get(f"/track/{LATER}")
    assert r.status_code == 200
    assert r.json()["tracking_number"] == BOOKED


def test_a_number_no_view_knows_is_404_naming_it(client: TestClient[Any]) -> None:
    r = client.get("/track/RR000000005SE")
    assert r.status_code == 404
    assert "RR000000005SE" in r.json()["detail"]


def test_a_malformed_number_is_refused_naming_the_field(client: TestClient[Any]) -> None:
    r = client.get("/track/no")
    assert r.status_code in (400, 422)
    assert r.json()["field"] == "tracking_number"
