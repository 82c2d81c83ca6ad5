"""An HTTP client on the real app, on each store, with a clock the test moves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import create_app
from adapters.settings import Settings
from tests.builders import at

TOKENS = {"m-token": "merchant", "a-token": "agent", "d-token": "device",
          "c-token": "carrier", "x-token": "admin"}
MERCHANT = {"Authorization": "Bearer m-token"}
AGENT = {"Authorization": "Bearer a-token"}
DEVICE = {"Authorization": "Bearer d-token"}
CARRIER = {"Authorization": "Bearer c-token"}


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(at(1))


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(database_url=database_url, api_tokens=TOKENS)


@pytest.fixture
def client(settings: Settings, clock: Clock) -> Iterator[TestClient[Any]]:
    yield from serving(settings, clock)


@pytest.fixture(scope="module")
def module_client(module_database_url: str) -> Iterator[TestClient[Any]]:
    """One app per store for a module whose tests only read (each test still
    gets its store's full app; building it is most of an e2e test's time)."""
    yield from serving(Settings(database_url=module_database_url, api_tokens=TOKENS), Clock(at(1)))


def serving(settings: Settings, clock: Clock) -> Iterator[TestClient[Any]]:
    app = create_app(build_api(settings, clock=clock))
    with TestClient(app=app) as c:
        yield c
