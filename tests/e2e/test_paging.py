"""Every list endpoint bounds ``limit`` and ``offset``, says so in its
OpenAPI, and answers a value outside the bounds with 400 naming it."""

from __future__ import annotations

from typing import Any

import pytest
from litestar.testing import TestClient

from tests.e2e.conftest import AGENT

LISTS = ["/api/v1/exceptions", "/api/v1/dead-letters", "/api/v1/customs-entries"]


@pytest.fixture
def client(module_client: TestClient[Any]) -> TestClient[Any]:
    """Every test here only reads an empty store: one app per store serves them all."""
    return module_client


@pytest.mark.parametrize("path", LISTS)
@pytest.mark.parametrize(("name", "value"), [
    ("offset", "3906277937542447759360"),  # found by fuzzing: was a 500
    ("offset", "-1"), ("limit", "0"), ("limit", "1001"), ("limit", "-5"),
])
def test_a_page_outside_the_bounds_is_a_400_naming_the_parameter(
    client: TestClient[Any], path: str, name: str, value: str
) -> None:
    r = client.get(path, params={name: value}, headers=AGENT)
    assert r.status_code == 400, r.text
    assert r.json()["field"] == name and name in r.json()["detail"]


@pytest.mark.parametrize("path", LISTS)
def test_the_largest_page_and_offset_allowed_answer(client: TestClient[Any], path: str) -> None:
    r = client.get(path, params={"limit": "1000", "offset": "1000000000"}, headers=AGENT)
    assert r.status_code == 200, r.text
    assert r.json() == []


@pytest.mark.parametrize("path", LISTS)
def test_the_bounds_are_in_the_openapi(client: TestClient[Any], path: str) -> None:
    operation = client.get("/schema/openapi.json").json()["paths"][path]["get"]
    bounds = {p["name"]: (p["schema"]["minimum"], p["schema"]["maximum"])
              for p in operation["parameters"] if p["name"] in ("limit", "offset")}
    assert bounds == {"limit": (1, 1000), "offset": (0, 1_000_000_000)}
