"""Fixtures shared by every test layer.

Application tests run against SQLite and against the real PostgreSQL
(``TRACKING_TEST_POSTGRES_URL``, default the local server's ``test``
database), each test in a schema of its own. Under CI (``CI=true``) a
PostgreSQL that cannot be reached fails the run instead of skipping it.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator

import psycopg
import pytest

from adapters.composition import build_service
from adapters.settings import Settings
from tracking.application import Clock, ShipmentService

PG_URL = os.environ.get("TRACKING_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")

ServiceFactory = Callable[..., ShipmentService]


def _postgres_error() -> str | None:
    try:
        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            conn.execute("SELECT 1")
    except psycopg.Error as e:
        return str(e)
    return None


@pytest.fixture(scope="session")
def postgres_url() -> str:
    error = _postgres_error()
    if error:
        message = f"PostgreSQL at {PG_URL} is not reachable: {error}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return PG_URL


def _fresh_schema(postgres_url: str) -> Iterator[str]:
    schema = f"test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    sep = "&" if "?" in postgres_url else "?"
    yield f"{postgres_url}{sep}schema={schema}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def postgres_schema_url(postgres_url: str) -> Iterator[str]:
    """A database URL whose tables live in a fresh schema, dropped afterwards."""
    yield from _fresh_schema(postgres_url)


STORES = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=STORES)
def database_url(request: pytest.FixtureRequest, tmp_path) -> str:  # type: ignore[no-untyped-def]
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/tracking.db"
    return request.getfixturevalue("postgres_schema_url")


@pytest.fixture(scope="module", params=STORES)
def module_database_url(request: pytest.FixtureRequest,
                        tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``database_url`` shared by a module's tests: for tests that only read
    what a module-scoped fixture set up, so one app per store serves them all."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('store')}/tracking.db"
    else:
        yield from _fresh_schema(request.getfixturevalue("postgres_url"))


@pytest.fixture
def make_service(database_url: str) -> Iterator[ServiceFactory]:
    """Builds services on one store, as separate processes would have them."""
    built: list[ShipmentService] = []

    def make(clock: Clock | None = None) -> ShipmentService:
        service = build_service(Settings(database_url=database_url), clock=clock)
        built.append(service)
        return service

    yield make
    for service in built:
        service.close()


@pytest.fixture
def service(make_service: ServiceFactory) -> ShipmentService:
    return make_service()
