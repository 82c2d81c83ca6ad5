"""docs/API.md documents the API the application serves: every route of the
app's route table has its heading there and every heading is a route, so a
route cannot be added, renamed or dropped without its documentation."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from litestar import Litestar
from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import create_app
from adapters.settings import VARIABLES, Settings

DOCS = Path(__file__).resolve().parents[2] / "docs" / "API.md"
# Endpoint headings: ### `GET /api/v1/track/{tracking_number}`
HEADING = re.compile(r"^#{2,4} `(GET|POST|PUT|PATCH|DELETE) (/\S*)`$", re.M)
OPENAPI = "/schema"  # the OpenAPI description and its UI: Litestar's own routes


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient[Litestar]]:
    db = tmp_path_factory.mktemp("docs") / "tracking.db"
    with TestClient(app=create_app(build_api(Settings(database_url=f"sqlite:///{db}")))) as c:
        yield c


def served(app: Litestar) -> set[tuple[str, str]]:
    """(method, path) of every route, path parameters as {name}."""
    return {
        (method, re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path))
        for route in app.routes
        if route.path != OPENAPI and not route.path.startswith(OPENAPI + "/")
        for method in route.methods - {"OPTIONS", "HEAD"}
    }


def documented() -> set[tuple[str, str]]:
    return {(m[1], m[2]) for m in HEADING.finditer(DOCS.read_text("utf-8"))}


def test_every_route_is_documented_and_every_documented_route_is_served(
    client: TestClient[Litestar],
) -> None:
    routes = served(client.app)
    assert ("GET", "/api/v1/track/{tracking_number}") in routes  # the table is what we think
    assert sorted(routes - documented()) == [], "routes with no heading in docs/API.md"
    assert sorted(documented() - routes) == [], "headings in docs/API.md the app does not serve"


def test_every_environment_variable_is_documented() -> None:
    text = DOCS.read_text("utf-8")
    assert [v for v in VARIABLES if f"`{v}`" not in text] == []


def test_the_openapi_description_points_to_the_documentation(client: TestClient[Litestar]) -> None:
    info: dict[str, Any] = client.get("/schema/openapi.json").json()["info"]
    assert "docs/API.md" in info["description"]
