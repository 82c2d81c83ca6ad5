"""GET /api/v1/track answers with a strong ETag of the view, and a refresh
that names it (If-None-Match) gets a 304 until the view changes, on the
plain route (answered in front of Litestar) and through the controller
(any query, such as min_position) alike, with the same tags."""

from __future__ import annotations

from typing import Any

import pytest

from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import create_app
from adapters.settings import Settings
from tests.builders import at
from tests.e2e.conftest import MERCHANT, Clock
from tests.e2e.test_http import BOOKING, TN, post_scan, scan

URL = f"/api/v1/track/{TN}"


def book(client: TestClient[Any]) -> int:
    r = client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    assert r.status_code == 201, r.text
    return int(r.json()["position"])


def test_a_refresh_of_an_unchanged_view_is_a_304_and_a_changed_one_a_200(
    client: TestClient[Any], clock: Clock,
) -> None:
    position = book(client)
    waited = client.get(URL, params={"min_position": position})  # through the controller
    plain = client.get(URL)  # the fast path
    assert waited.status_code == plain.status_code == 200
    tag = plain.headers["etag"]
    assert tag.startswith('"') and tag.endswith('"') and not tag.startswith("W/")
    assert waited.headers["etag"] == tag and waited.content == plain.content
    assert plain.headers["content-type"].startswith("application/json")
    assert plain.headers["cache-control"] == "no-cache" and "x-request-id" in plain.headers
    assert plain.json()["tracking_number"] == TN

    for named in (tag, f"W/{tag}", f'"other", {tag}', "*"):
        again = client.get(URL, headers={"If-None-Match": named})
        assert again.status_code == 304, named
        assert again.content == b"" and again.headers["etag"] == tag
    assert client.get(URL, headers={"If-None-Match": '"other"'}).status_code == 200
    waited = client.get(URL, params={"min_position": position}, headers={"If-None-Match": tag})
    assert waited.status_code == 304 and waited.headers["etag"] == tag

    w = post_scan(client, clock, scan("RECEIVED", "HKHKG", at(2)))
    changed = client.get(URL, params={"min_position": w["position"]},
                         headers={"If-None-Match": tag})
    assert changed.status_code == 200 and changed.headers["etag"] != tag
    assert changed.json()["status"] != plain.json()["status"]
    refreshed = client.get(URL, headers={"If-None-Match": tag})
    assert refreshed.status_code == 200 and refreshed.headers["etag"] == changed.headers["etag"]
    assert refreshed.content == changed.content


def test_the_plain_route_is_logged_and_counted_by_its_template(client: TestClient[Any]) -> None:
    client.get(URL, params={"min_position": book(client)})
    assert client.get(URL).status_code == 200
    metrics = client.get("/metrics").text
    assert 'route="/api/v1/track/{tracking_number}",status="200"} 2' in metrics.replace(
        'method="GET",', "")


def test_the_plain_route_takes_from_the_same_rate_limit(settings: Settings, clock: Clock) -> None:
    limited = Settings(database_url=settings.database_url, api_tokens=settings.api_tokens,
                       rate_limit_per_minute=4)
    with TestClient(app=create_app(build_api(limited, clock=clock))) as c:
        assert c.get(URL, params={"min_position": book(c)}).status_code == 200  # 2 tokens
        codes = [c.get(URL).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_unknown_and_malformed_numbers_are_answered_as_before(client: TestClient[Any]) -> None:
    assert client.get("/api/v1/track/RR473124829US").status_code == 404
    assert client.get("/api/v1/track/not-a-number!").status_code == 422
    assert client.get("/api/v1/track/LX123456784CN").status_code in (400, 422)  # check digit


def test_a_view_store_that_fails_is_answered_by_the_controller_as_any_error(
    client: TestClient[Any], monkeypatch: pytest.MonkeyPatch,
) -> None:
    from projections.lookup import NumberLookup

    async def broken(self: NumberLookup, tn: Any) -> bytes | None:
        raise RuntimeError("the views' database went away")

    monkeypatch.setattr(NumberLookup, "public_view_async", broken)
    r = client.get(URL)
    assert r.status_code == 500 and r.json()["detail"].startswith("an internal error occurred")
