"""The public track endpoints answer CORS requests from the origins in
TRACKING_CORS_ORIGINS, so a shop's page can show where a parcel is; no other
origin, and no route that takes a token, gets a CORS header."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.settings import ConfigError, Settings
from tests.builders import at
from tests.e2e.conftest import AGENT, MERCHANT, TOKENS, Clock, serving
from tests.e2e.test_http import BOOKING, TN

SHOP = "https://shop.example"
PREFLIGHT = {"Access-Control-Request-Method": "GET"}


@pytest.fixture(scope="module")
def cors_client(module_database_url: str) -> Iterator[TestClient[Any]]:
    """One app per store for the module: its tests only read the booking made here."""
    settings = Settings.from_env({"TRACKING_DATABASE_URL": module_database_url,
                                  "TRACKING_CORS_ORIGINS": f"{SHOP}, https://other.example:8443"})
    settings = Settings(database_url=module_database_url, api_tokens=TOKENS,
                        cors_origins=settings.cors_origins)
    clients = serving(settings, Clock(at(1)))
    c = next(clients)
    booked = c.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    assert booked.status_code == 201, booked.text
    # read your write once: the views hold the shipment from here on
    position = {"min_position": booked.json()["position"]}
    assert c.get(f"/api/v1/track/{TN}", params=position).status_code == 200
    yield c
    clients.close()


def test_a_configured_origin_may_read_the_public_tracking_view(cors_client: TestClient[Any]) -> None:
    r = cors_client.get(f"/api/v1/track/{TN}", headers={"Origin": SHOP})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == SHOP
    assert "Origin" in r.headers["vary"]
    unknown = cors_client.get("/api/v1/track/NOSUCH123", headers={"Origin": SHOP})
    assert unknown.status_code == 404  # the page can tell its customer so
    assert unknown.headers["access-control-allow-origin"] == SHOP


def test_a_configured_origin_s_preflight_is_answered(cors_client: TestClient[Any]) -> None:
    r = cors_client.options(f"/api/v1/track/{TN}",
                            headers={"Origin": "https://other.example:8443", **PREFLIGHT})
    assert r.status_code == 204
    assert r.headers["access-control-allow-origin"] == "https://other.example:8443"
    assert "GET" in r.headers["access-control-allow-methods"]


def test_another_origin_gets_no_cors_header(cors_client: TestClient[Any]) -> None:
    evil = {"Origin": "https://evil.example"}
    r = cors_client.get(f"/api/v1/track/{TN}", headers=evil)
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers
    r = cors_client.options(f"/api/v1/track/{TN}", headers={**evil, **PREFLIGHT})
    assert "access-control-allow-origin" not in r.headers


@pytest.mark.parametrize(("method", "path", "headers"), [
    ("GET", f"/api/v1/shipments/{TN}", AGENT),
    ("GET", "/api/v1/exceptions", AGENT),
    ("POST", "/api/v1/scans", {}),
    ("GET", "/livez", {}),
])
def test_routes_that_are_not_public_tracking_get_no_cors_header(
    cors_client: TestClient[Any], method: str, path: str, headers: dict[str, str]
) -> None:
    r = cors_client.request(method, path, headers={"Origin": SHOP, **headers})
    assert "access-control-allow-origin" not in r.headers
    r = cors_client.options(path, headers={"Origin": SHOP, **PREFLIGHT})
    assert "access-control-allow-origin" not in r.headers


def test_without_configured_origins_no_route_answers_cors(client: TestClient[Any]) -> None:
    r = client.options(f"/api/v1/track/{TN}", headers={"Origin": SHOP, **PREFLIGHT})
    assert "access-control-allow-origin" not in r.headers
    r = client.get(f"/api/v1/track/{TN}", headers={"Origin": SHOP})
    assert "access-control-allow-origin" not in r.headers


def test_any_origin_with_a_star() -> None:
    assert Settings.from_env({"TRACKING_CORS_ORIGINS": "*"}).cors_origins == {"*"}
    assert Settings.from_env({}).cors_origins == frozenset()


@pytest.mark.parametrize("value", ["shop.example", "https://shop.example/", "ftp://shop.example",
                                   "https://shop.example/page"])
def test_a_value_that_is_not_an_origin_stops_start_up_naming_the_variable(value: str) -> None:
    with pytest.raises(ConfigError, match="TRACKING_CORS_ORIGINS") as e:
        Settings.from_env({"TRACKING_CORS_ORIGINS": f"https://ok.example,{value}"})
    assert repr(value) in str(e.value)
