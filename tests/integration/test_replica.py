"""The API reads its views from a real streaming replica (a PostgreSQL 15
cluster of the test's own, replicating one of its own), while writes go to
the primary; ``min_position`` waits for what the replica has replayed."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from litestar.testing import TestClient

from adapters.composition import build_api, build_view_store
from adapters.http import app as app_module
from adapters.http.app import create_app
from adapters.settings import ConfigError, Settings
from projections.replica import ReadOnlyViews, ReplicaDatabase
from tests.e2e.conftest import DEVICE, MERCHANT, TOKENS
from tests.e2e.test_http import BOOKING, TN, scan
from tests.builders import at
from tests.integration.replication import Pair
from tests.waiting import eventually

pytestmark = pytest.mark.postgres


@pytest.fixture
def settings(pg_pair: Pair) -> Settings:
    primary, replica = pg_pair.schema_urls(f"replica_{uuid.uuid4().hex[:10]}")
    return Settings(database_url=primary, database_read_url=replica, api_tokens=TOKENS)


@pytest.fixture
def client(settings: Settings) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(build_api(settings))) as c:
        yield c


def replay(pair: Pair, action: str) -> None:
    with psycopg.connect(pair.replica.url, autocommit=True) as conn:
        conn.execute(f"SELECT pg_wal_replay_{action}()")


def test_reads_come_from_the_replica_and_wait_until_it_has_replayed_the_write(
    pg_pair: Pair, settings: Settings, client: TestClient[Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    booked = client.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    assert booked.status_code == 201, booked.text
    r = client.get(f"/api/v1/track/{TN}", params={"min_position": booked.json()["position"]})
    assert r.status_code == 200 and r.json()["events"] == [], r.text

    monkeypatch.setattr(app_module, "READ_YOUR_WRITES_WAIT", 1.0)
    replay(pg_pair, "pause")
    try:
        written = client.post("/api/v1/scans", json=scan("RECEIVED", "HKHKG", at(2)), headers=DEVICE)
        assert written.status_code == 201, written.text
        position = written.json()["position"]
        primary = build_view_store(settings)
        try:  # the primary's views have it; the replica, paused, has not
            eventually(lambda: primary.position() >= position, what="the primary's views move on")
        finally:
            primary.close()
        r = client.get(f"/api/v1/track/{TN}", params={"min_position": position})
        assert r.status_code == 503 and r.headers["retry-after"] == "1", r.text
        assert client.get(f"/api/v1/track/{TN}").json()["events"] == []  # the replica's
    finally:
        replay(pg_pair, "resume")
    r = client.get(f"/api/v1/track/{TN}", params={"min_position": position})
    assert r.status_code == 200 and len(r.json()["events"]) == 1, r.text


def test_the_views_on_the_replica_refuse_writes_saying_where_to_write(settings: Settings) -> None:
    build_view_store(settings).close()  # the tables, created on the primary
    views = build_view_store(settings, replica=True)
    try:
        with pytest.raises(ReadOnlyViews, match="reset on the primary"):
            views.reset()
        assert views.database is not None
        with pytest.raises(ReadOnlyViews, match="write on the primary"), views.database.transaction():
            pass
    finally:
        views.close()


def test_a_replica_without_the_views_says_what_is_missing(
    pg_pair: Pair, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, replica = pg_pair.schema_urls(f"empty_{uuid.uuid4().hex[:10]}")
    settings = Settings(database_url=pg_pair.primary.url, database_read_url=replica)
    monkeypatch.setattr(ReplicaDatabase, "tables_timeout", 0.5)
    with pytest.raises(ReadOnlyViews, match="no table view_positions"):
        build_view_store(settings, replica=True)


def test_the_read_url_is_checked_at_start() -> None:
    with pytest.raises(ConfigError, match="TRACKING_DATABASE_READ_URL: a read replica needs"):
        Settings.from_env({"TRACKING_DATABASE_READ_URL": "postgresql://u@replica:5432/db"})
    with pytest.raises(ConfigError, match="TRACKING_DATABASE_READ_URL: expected postgresql"):
        Settings.from_env({"TRACKING_DATABASE_URL": "postgresql://u@db/db",
                           "TRACKING_DATABASE_READ_URL": "mysql://u@replica/db"})
    s = Settings.from_env({"TRACKING_DATABASE_URL": "postgresql://u@db/db?schema=s1",
                           "TRACKING_DATABASE_READ_URL": "postgresql://u@replica:5433/db"})
    assert s.postgres_read_conninfo() == ("postgresql://u@replica:5433/db", "s1")


def test_several_hosts_are_handed_to_libpq_which_picks_the_primary() -> None:
    s = Settings.from_env({"TRACKING_DATABASE_URL": "postgresql://u:pw@db1:5432,db2:5433/t"})
    env = s.eventstore_env()
    assert (env["POSTGRES_HOST"], env["POSTGRES_PORT"]) == ("db1,db2", "5432,5433")
    assert s.postgres_conninfo() == (
        "postgresql://u:pw@db1:5432,db2:5433/t?target_session_attrs=read-write", "public")
    with pytest.raises(ConfigError, match="bad host or port 'db2:x'"):
        Settings.from_env({"TRACKING_DATABASE_URL": "postgresql://u@db1,db2:x/t"})
