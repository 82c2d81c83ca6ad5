"""At least once: `tracking notify` killed (SIGKILL) in the middle of a batch
loses nothing. Its successor sends every message, a shipment's in order,
and any message sent twice carries the same webhook-id both times."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from litestar.testing import TestClient

from adapters.composition import build_api
from adapters.http.app import create_app
from projections import outbox
from tests.notify.receiver import Receiver
from tests.notify.test_webhooks import System, chain, settings_for
from tests.ports import free_port
from tests.waiting import eventually

TRACKING = str(Path(sys.executable).with_name("tracking"))
SHIPMENTS = 12


def start_sender(database_url: str, **extra: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "TRACKING_DATABASE_URL": database_url,
           "TRACKING_WEBHOOKS_ALLOW_PRIVATE": "true", "TRACKING_LOG_LEVEL": "WARNING", **extra}
    return subprocess.Popen([TRACKING, "notify"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def _get(url: str) -> tuple[int, str] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:  # noqa: S310 - our own loopback
            return r.status, r.read().decode()
    except OSError:
        return None


def test_a_killed_sender_s_successor_delivers_every_message_in_order(database_url: str) -> None:
    receiver = Receiver()
    receiver.delay = 0.02  # slow enough to be killed with requests in flight
    api = build_api(settings_for(database_url))
    with TestClient(app=create_app(api)) as client:
        system = System(client, sender=None)  # type: ignore[arg-type]
        hook = system.subscribe(receiver.url, events=["shipment.status_changed"])
        numbers = [f"KILLTEST{i:04d}" for i in range(SHIPMENTS)]
        for tn in numbers:
            system.book(tn)
            system.live(tn)
        view = api.store[outbox.READ_MODEL]
        expected = eventually(lambda: len(found := view.messages(uuid.UUID(hook["id"]))) == 3 * SHIPMENTS
                              and found, what="every message decided")
        first = start_sender(database_url)
        try:
            eventually(lambda: len(receiver.requests) >= SHIPMENTS, what="a batch under way")
        finally:
            first.send_signal(signal.SIGKILL)
            first.wait(10)
        got_before = len(receiver.requests)
        assert got_before < len(expected)  # killed mid-way, not after the end
        port = free_port()
        second = start_sender(database_url, TRACKING_METRICS_PORT=str(port))
        try:
            ids = {m.message_id for m in expected}
            eventually(lambda: {i for i, _ in receiver.verified(hook["secret"])} >= ids,
                       timeout=60, what="every message delivered after the restart")
            ops = f"http://127.0.0.1:{port}"
            ready = eventually(lambda: _get(f"{ops}/readyz"), what="the sender's /readyz")
            assert ready[0] == 200
            metrics = eventually(lambda: (m := _get(f"{ops}/metrics")) and
                                 'tracking_notify_messages{state="unsent"} 0' in m[1] and m,
                                 what="nothing left unsent in the metrics")[1]
            assert "tracking_notify_sent_total" in metrics
            assert "tracking_notify_oldest_unsent_seconds 0" in metrics
        finally:
            second.send_signal(signal.SIGTERM)
            second.wait(20)
    sent = receiver.verified(hook["secret"])
    by_id: dict[str, Any] = {}
    for message_id, body in sent:
        # A duplicate is the same message: the same id, the same body.
        assert by_id.setdefault(message_id, body) == body
    assert set(by_id) == {m.message_id for m in expected}
    for tn in numbers:
        mine = [body for _, body in sent if body["data"]["tracking_number"] == tn]
        once = [b for i, b in enumerate(mine) if i == 0 or b != mine[i - 1]]
        assert chain(once) == ["INFO_RECEIVED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"]
