"""GET /api/v1/track/{tracking_number}/stream, read with a plain HTTP client
from a real server: the current view first, one message per change with the
log position as its id, resumption after Last-Event-ID with nothing missed
and nothing twice, a comment line while nothing happens, 404 for a number
nobody booked. On SQLite (polling) and PostgreSQL (LISTEN/NOTIFY)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

import adapters.http.stream
from tests.builders import at
from tests.e2e.conftest import MERCHANT
from tests.e2e.test_http import BOOKING, TN, scan
from tests.web.conftest import Server
from tests.web.sse import Message, messages

STREAM = f"/api/v1/track/{TN}/stream"




def book(server: Server) -> int:
    with server.client() as c:
        r = c.post("/api/v1/shipments", json=BOOKING, headers=MERCHANT)
    assert r.status_code == 201, r.text
    return int(r.json()["position"])


def tracking(stream: Iterator[Message]) -> Message:
    """The next tracking message (skipping keep-alive comments)."""
    for m in stream:
        if m.event == "tracking":
            return m
    raise AssertionError("the stream ended")


def open_stream(client: httpx.Client, min_position: int | None = None, **headers: str) -> Any:
    params = {"min_position": min_position} if min_position is not None else None
    return client.stream("GET", STREAM, params=params,
                         headers={"Accept": "text/event-stream", **headers})


def test_the_first_message_is_the_current_view_then_one_per_scan(server: Server) -> None:
    booked = book(server)
    # min_position: the stream waits for the views to have the booking (else a 404 race)
    with server.client(timeout=httpx.Timeout(10, read=15)) as c, open_stream(c, booked) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["cache-control"] == "no-store"
        stream = messages(r.iter_lines())
        first = tracking(stream)
        assert int(first.id or 0) >= booked
        assert first.view["status"] == "INFO_RECEIVED" and first.view["events"] == []
        with server.client() as api:
            assert first.view == api.get(f"/api/v1/track/{TN}").json()
        position = server.post_scan(scan("RECEIVED", "HKHKG", at(2)))
        second = tracking(stream)
        assert int(second.id or 0) == position > int(first.id or 0)
        assert [e["event"] for e in second.view["events"]] == ["RECEIVED"]
        assert "recipient" not in second.view and "11122" not in "".join(second.data)


def test_a_reconnect_with_last_event_id_gets_only_what_it_missed(server: Server) -> None:
    booked = book(server)
    with server.client(timeout=httpx.Timeout(10, read=15)) as c:
        with open_stream(c, booked) as r:
            seen = tracking(messages(r.iter_lines()))
        # Up to date: nothing is sent again; the next change comes once.
        with open_stream(c, **{"Last-Event-ID": seen.id or ""}) as r:
            stream = messages(r.iter_lines())
            position = server.post_scan(scan("RECEIVED", "HKHKG", at(2)))
            got = tracking(stream)
            assert int(got.id or 0) == position
        # Missed two scans while away: the view that has both comes at once.
        server.post_scan(scan("LOADED", "HKHKG", at(3), voyage="V100"))
        last = server.post_scan(scan("DEPARTED", "HKHKG", at(3, 2), voyage="V100"))
        with open_stream(c, last, **{"Last-Event-ID": got.id or ""}) as r:
            caught_up = tracking(messages(r.iter_lines()))
        assert int(caught_up.id or 0) == last
        assert [e["event"] for e in caught_up.view["events"]] == ["RECEIVED", "LOADED", "DEPARTED"]


def test_a_quiet_stream_sends_comment_lines(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(adapters.http.stream, "HEARTBEAT", 0.2)
    booked = book(server)
    with server.client(timeout=httpx.Timeout(10, read=15)) as c, open_stream(c, booked) as r:
        stream = messages(r.iter_lines())
        tracking(stream)
        quiet = next(stream)
        assert quiet.event is None and quiet.comments == ["keep-alive"]


def test_an_unknown_number_or_a_bad_last_event_id_is_refused(server: Server) -> None:
    with server.client() as c:
        r = c.get("/api/v1/track/RR473124829US/stream")
        assert r.status_code == 404 and "RR473124829US" in r.json()["detail"]
        book(server)
        r = c.get(STREAM, headers={"Last-Event-ID": "yesterday"})
        assert r.status_code == 422 and r.json()["field"] == "Last-Event-ID"
