"""Public tracking cannot be used to enumerate tracking numbers or guess
postcodes: per address, unknown numbers looked up (API, stream and page
alike) and wrong postcodes are limited, and past the limit every lookup
answers 429 with Retry-After, so a known number is not told from an
unknown one by the answer either. Known numbers looked up cost nothing."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.http import ratelimit
from tests.e2e.conftest import MERCHANT
from tests.e2e.test_http import BOOKING, TN

ALLOWED = ratelimit.GUESSES


def unknown(i: int) -> str:
    return f"ZZ{i:010d}"


@pytest.fixture
def booked(client: TestClient[Any]) -> TestClient[Any]:
    r = client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    assert r.status_code == 201, r.text
    assert client.get(f"/api/v1/track/{TN}",
                      params={"min_position": r.json()["position"]}).status_code == 200
    return client


def test_unknown_numbers_from_one_address_are_held_off_with_429(booked: TestClient[Any]) -> None:
    for i in range(ALLOWED):
        assert booked.get(f"/api/v1/track/{unknown(i)}").status_code == 404
    held = booked.get(f"/api/v1/track/{unknown(ALLOWED)}")
    assert held.status_code == 429 and int(held.headers["retry-after"]) > 0
    assert "unknown tracking numbers" in held.json()["detail"]
    # and a known one answers the same now: the answer is no oracle
    known = booked.get(f"/api/v1/track/{TN}")
    assert (known.status_code, known.json()) == (429, held.json())
    assert booked.get(f"/api/v1/track/{TN}/stream").status_code == 429
    assert booked.get(f"/track/{TN}").status_code == 429


def test_known_numbers_cost_nothing(booked: TestClient[Any]) -> None:
    for _ in range(3 * ALLOWED):
        assert booked.get(f"/api/v1/track/{TN}").status_code == 200
    assert booked.get(f"/api/v1/track/{unknown(0)}").status_code == 404


def test_the_same_unknown_number_asked_again_costs_nothing(booked: TestClient[Any]) -> None:
    # a shop's page polling a parcel just booked, before the views show it
    for _ in range(3 * ALLOWED):
        assert booked.get(f"/api/v1/track/{unknown(0)}").status_code == 404
        assert booked.get(f"/track/{unknown(0).lower()}").status_code == 404
    for i in range(1, ALLOWED):
        assert booked.get(f"/api/v1/track/{unknown(i)}").status_code == 404
    assert booked.get(f"/api/v1/track/{unknown(ALLOWED)}").status_code == 429


def test_the_page_and_the_api_spend_one_allowance(booked: TestClient[Any]) -> None:
    half = ALLOWED // 2
    for i in range(half):
        assert booked.get(f"/track/{unknown(i)}").status_code == 404
    for i in range(half, ALLOWED):
        assert booked.get(f"/api/v1/track/{unknown(i)}").status_code == 404
    page = booked.get(f"/track/{unknown(99)}")
    assert page.status_code == 429 and int(page.headers["retry-after"]) > 0
    assert "text/html" in page.headers["content-type"]
    assert booked.get(f"/api/v1/track/{unknown(98)}").status_code == 429


def test_an_address_gets_a_guess_back_as_the_bucket_refills(
    booked: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [ratelimit.time.monotonic()]
    monkeypatch.setattr(ratelimit.time, "monotonic", lambda: now[0])  # the buckets' clock
    for i in range(ALLOWED):
        assert booked.get(f"/api/v1/track/{unknown(i)}").status_code == 404
    held = booked.get(f"/api/v1/track/{unknown(ALLOWED)}")
    assert held.status_code == 429
    now[0] += int(held.headers["retry-after"])
    assert booked.get(f"/api/v1/track/{unknown(ALLOWED)}").status_code == 404
    assert booked.get(f"/api/v1/track/{unknown(ALLOWED + 1)}").status_code == 429


def test_wrong_postcodes_are_held_off_and_do_not_block_plain_tracking(
    booked: TestClient[Any],
) -> None:
    for guess in range(ALLOWED):
        assert booked.get(f"/track/{TN}", params={"postcode": f"{guess:05}"}).status_code == 200
    held = booked.get(f"/track/{TN}", params={"postcode": "11122"})  # even the right one
    assert held.status_code == 429 and int(held.headers["retry-after"]) > 0
    assert "Stockholm" not in held.text
    subscribe = booked.post(f"/track/{TN}/subscriptions",
                            data={"postcode": "11122", "email": "a@example.com", "lang": "en"})
    assert subscribe.status_code == 429
    assert booked.get(f"/api/v1/track/{TN}").status_code == 200


def test_numbers_are_counted_per_address() -> None:
    numbers = ratelimit.UnknownNumbers()
    for i in range(ALLOWED):
        numbers.missed("192.0.2.1", unknown(i))
    assert numbers.wait("192.0.2.1") > 0
    assert numbers.wait("192.0.2.2") == 0
