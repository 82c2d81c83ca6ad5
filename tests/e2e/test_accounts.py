"""Accounts: a merchant token may name its account; what it books belongs to
that account, and the agent's view of a shipment says which."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import create_app
from adapters.settings import Settings
from tests.e2e.conftest import AGENT, Clock
from tests.e2e.test_http import BOOKING


@pytest.fixture
def client(database_url: str, clock: Clock) -> Iterator[TestClient[Any]]:
    settings = Settings.from_env({
        "TRACKING_DATABASE_URL": database_url,
        "TRACKING_API_TOKENS": "merchant:acme-token:acme,merchant:plain-token,agent:a-token",
    })
    with TestClient(app=create_app(build_api(settings, clock=clock))) as c:
        yield c


def test_a_shipment_belongs_to_the_account_its_merchant_token_names(client: TestClient[Any]) -> None:
    booked = client.post("/api/v1/shipments", json=BOOKING,
                         headers={"Authorization": "Bearer acme-token"})
    assert booked.status_code == 201, booked.text
    assert booked.json()["account"] == "acme"
    view = client.get(f"/api/v1/shipments/{BOOKING['tracking_number']}",
                      params={"min_position": booked.json()["position"]}, headers=AGENT)
    assert view.status_code == 200 and view.json()["account"] == "acme"


def test_a_token_naming_no_account_books_for_default(client: TestClient[Any]) -> None:
    booked = client.post("/api/v1/shipments", json=BOOKING,
                         headers={"Authorization": "Bearer plain-token"})
    assert booked.status_code == 201, booked.text
    view = client.get(f"/api/v1/shipments/{BOOKING['tracking_number']}",
                      params={"min_position": booked.json()["position"]}, headers=AGENT)
    assert view.json()["account"] == "default"


def test_the_public_view_does_not_say_the_account(client: TestClient[Any]) -> None:
    booked = client.post("/api/v1/shipments", json=BOOKING,
                         headers={"Authorization": "Bearer acme-token"})
    track = client.get(f"/api/v1/track/{BOOKING['tracking_number']}",
                       params={"min_position": booked.json()["position"]})
    assert track.status_code == 200 and "account" not in track.json()
