"""Erasing a recipient, looked for where it could linger: a known name and
address are booked, subscribed, dead-lettered and read; after the erasure
neither is in a pg_dump of the test schema, the SQLite file (and its WAL),
the logs or the dead letters (the name index holds keyed digests only, and
loses the recipient's rows); rebuilding the views and replaying the
events still work and still show it erased. Events recorded before sealing
(class_version 1, plain) load as not yet sealed, and erasure blanks them
in every view."""

from __future__ import annotations

import base64
import dataclasses
import json
import logging
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import msgspec
import pytest
from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import Api, create_app
from adapters.keys import SQLiteKeyStore
from adapters.settings import ConfigError, Settings
from projections.shipments import READ_MODEL as SHIPMENTS
from tests.builders import AGENT as AGENT_SOURCE, HK_STO, at, booking
from tests.e2e.conftest import AGENT, MERCHANT, Clock
from tests.e2e.test_http import BOOKING, TN, post_scan, scan
from tests.e2e.test_operations import letter
from tracking.identifiers import TrackingNumber, shipment_id
from tracking.personal_data import PersonalDataErased
from tracking.shipment import Shipment

NAME = "Wilhelmina Otterspoon"
POSTCODE = "987 65"
EMAIL = "wilhelmina@otterspoon.example"
TOKENS = {"m-token": "merchant", "a-token": "agent", "d-token": "device", "x-token": "admin"}
MASTER = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def clock() -> Clock:
    return Clock(at(1))


@pytest.fixture
def api(database_url: str, clock: Clock) -> Api:
    settings = Settings.from_env({"TRACKING_DATABASE_URL": database_url,
                                  "TRACKING_API_TOKENS": ",".join(
                                      f"{r}:{t}" for t, r in TOKENS.items()),
                                  "TRACKING_MASTER_KEY": MASTER})
    return build_api(settings, clock=clock)


@pytest.fixture
def client(api: Api) -> Iterator[TestClient[Any]]:
    with TestClient(app=create_app(api)) as c:
        yield c


def stored_bytes(database_url: str) -> bytes:
    """Everything the database holds, as bytes: the SQLite file with its
    WAL, or a pg_dump of the test's schema."""
    url = urlsplit(database_url)
    if url.scheme == "sqlite":
        path = Path(url.path[1:])
        return b"".join(p.read_bytes() for p in (path, Path(f"{path}-wal"))
                        if p.exists())
    schema = parse_qs(url.query)["schema"][0]
    dumped = subprocess.run(
        ["pg_dump", "--schema", schema, "--data-only", url._replace(query="").geturl()],
        capture_output=True, check=True)
    return dumped.stdout


def personal(values: bytes) -> list[str]:
    return [v for v in (NAME, "Otterspoon", POSTCODE, "98765", EMAIL) if v.encode() in values]


def test_an_erased_recipient_is_nowhere_and_views_rebuild(
    client: TestClient[Any], clock: Clock, api: Api, database_url: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    clock.now = at(2)
    body = {**BOOKING, "recipient": {"name": NAME, "postcode": POSTCODE, "country": "SE"}}
    assert client.post("/api/v1/shipments", json=body, headers=MERCHANT).status_code == 201
    post_scan(client, clock, scan("RECEIVED", "HKHKG", at(2, 8)))
    position = post_scan(client, clock, scan("LOADED", "HKHKG", at(3), voyage="V100"))["position"]
    client.post(f"/track/{TN}/subscriptions", follow_redirects=False,
                data={"email": EMAIL, "postcode": POSTCODE, "lang": "en"})
    # A scanner's upload carrying the recipient, refused: a dead letter.
    api.dead_letters.add([letter(  # type: ignore[union-attr]
        "scanners/sto/sto-1/scans",
        {**scan("NOT_AN_EVENT", "SESTO", at(3)), "recipient": {"name": NAME},
         "note": f"call {EMAIL}"}, "event: not a scan event")])
    seen = client.get(f"/api/v1/shipments/{TN}", headers=AGENT,
                      params={"min_position": position}).json()
    assert seen["recipient"]["name"] == NAME  # it was there, and readable
    before = client.get(f"/api/v1/track/{TN}").json()
    assert personal(stored_bytes(database_url)) == []  # sealed from the start
    vault = api.service.personal_data  # and findable by name only through the blind index
    assert vault.find_recipients(NAME.lower()) == [str(shipment_id(TN))]

    r = client.delete(f"/api/v1/shipments/{TN}/personal-data", headers=AGENT)
    assert r.status_code == 200, r.text
    client.get(f"/api/v1/shipments/{TN}", headers=AGENT,
               params={"min_position": r.json()["position"]})

    assert personal(stored_bytes(database_url)) == []
    letters = api.dead_letters.list(pending_only=False, limit=10, offset=0)  # type: ignore[union-attr]
    assert letters and all(personal(x.payload) == [] for x in letters)
    assert json.loads(letters[0].payload)["scan_id"]  # what a re-submission needs is kept
    logged = caplog.text + "".join(str(rec.__dict__) for rec in caplog.records)
    assert NAME not in logged and EMAIL not in logged and "Otterspoon" not in logged
    # The sealed copies are there still, and open to nothing.
    sid = shipment_id(TN)
    assert api.service.personal_data.keys.key(str(sid)) is None
    assert vault.find_recipients(NAME) == [] and vault.find_recipients("otterspoon") == []
    assert api.runner is not None
    api.runner.rebuild()
    rebuilt = msgspec.json.decode(api.store[SHIPMENTS].full_view(sid) or b"{}")
    assert rebuilt["personal_data_erased_at"] and rebuilt["status"] == seen["status"]
    view = client.get(f"/api/v1/shipments/{TN}", headers=AGENT).json()
    assert view["recipient"]["erased"] is True and view["eta"] == seen["eta"]
    assert client.get(f"/api/v1/track/{TN}").json() == before
    # Replaying to before the erasure finds the sealed values unreadable too.
    as_of = client.get(f"/api/v1/shipments/{TN}", headers=AGENT,
                       params={"as_of": datetime.now(UTC).isoformat()}).json()
    assert as_of["recipient"]["erased"] is True
    assert len(client.get(f"/api/v1/shipments/{TN}/history", headers=AGENT).json()) == 6


def _v1(api: Api, events: list[Any]) -> list[Any]:
    """The stored events as this service recorded them before sealing: a
    plain recipient, no class_version."""
    stored = []
    for event in events:
        s = api.service.mapper.to_stored_event(event)
        if isinstance(event, Shipment.Booked):
            state = json.loads(s.state)
            del state["class_version"]
            del state["booking"]["recipient"]["form"]
            s = dataclasses.replace(s, state=json.dumps(state).encode())
        stored.append(s)
    return stored


def test_events_recorded_before_sealing_read_as_not_yet_sealed_and_erase_from_views(
    client: TestClient[Any], api: Api, database_url: str,
) -> None:
    tn = TrackingNumber("RR473124829US")
    legacy = Shipment.open(tn, AGENT_SOURCE)
    plain = booking()  # a plain recipient: Astrid Lindgren, 11122
    legacy.book(plain, HK_STO, AGENT_SOURCE)
    stored = _v1(api, list(legacy.collect_events()))
    assert b"Astrid Lindgren" in stored[1].state and b"class_version" not in stored[1].state
    api.service.recorder.insert_events(stored)
    assert api.runner is not None
    api.runner.catch_up()

    loaded = api.service.get(tn)
    assert loaded.booking is not None and loaded.booking.recipient == plain.recipient
    view = client.get(f"/api/v1/shipments/{tn}", headers=AGENT).json()
    assert view["recipient"] == {"name": "Astrid Lindgren", "postcode": "11122",
                                 "country": "SE", "erased": False}
    assert "Stockholm" in client.get(f"/track/{tn}", params={"postcode": "111 22"}).text

    r = client.delete(f"/api/v1/shipments/{tn}/personal-data", headers=AGENT,
                      params={"reason": "unused"})
    assert r.status_code == 200, r.text
    api.runner.catch_up()
    view = client.get(f"/api/v1/shipments/{tn}", headers=AGENT).json()
    assert view["recipient"]["erased"] is True
    kept = api.store[SHIPMENTS].full_view(shipment_id(tn)) or b""
    assert b"Astrid" not in kept  # the view and its kept state are blanked
    assert "Stockholm" not in client.get(f"/track/{tn}", params={"postcode": "11122"}).text
    # The stored v1 event keeps its bytes: the log is not rewritten (personal_data.py).


def test_the_sqlite_store_keeps_keys_wrapped_and_erases_them_for_good(tmp_path: Path) -> None:
    path = str(tmp_path / "keys.db")
    master = os.urandom(32)
    store = SQLiteKeyStore(path, master)
    key = store.key("s1", create=True)
    assert key is not None and store.key("s1") == key
    on_disk = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    assert key not in on_disk  # only wrapped by the master key
    with pytest.raises(ConfigError, match="TRACKING_MASTER_KEY"):  # another master key
        SQLiteKeyStore(path, os.urandom(32)).key("s1")
    assert store.erase("s1", datetime(2009, 3, 4, tzinfo=UTC)) and store.key("s1") is None
    with pytest.raises(PersonalDataErased):
        store.key("s1", create=True)
    assert SQLiteKeyStore(path, master).key("s1") is None  # after a restart too
    store.close()
