"""A receiver is kept busy: when a send ends, the sender starts the next
message due for that receiver at once, not at its next poll of the outbox
(which, with a few messages in flight per receiver, capped a receiver at a
handful of messages per poll interval)."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from adapters.composition import build_api, build_sender
from adapters.http.app import create_app
from tests.builders import at
from tests.notify.receiver import Receiver
from tests.notify.test_webhooks import System, settings_for
from tests.waiting import eventually
from tracking.identifiers import s10_check_digit

NUMBERS = [f"LX{serial}{s10_check_digit(serial)}CN" for serial in
           ("10000001", "10000002", "10000003", "10000004", "10000005")]


def test_with_one_message_in_flight_and_a_minute_between_polls_all_arrive_at_once(
    tmp_path: Any,
) -> None:
    settings = settings_for(f"sqlite:///{tmp_path}/t.db")
    api = build_api(settings)
    receiver = Receiver()
    with TestClient(app=create_app(api)) as client:
        sender = build_sender(settings, api.service, api.store, poll_interval=60.0,
                              per_receiver=1)
        system = System(client, sender)
        system.subscribe(receiver.url, events=["shipment.status_changed"])
        for tn in NUMBERS:
            system.book(tn)
            system.scan("RECEIVED", "HKHKG", at(3), tn=tn)
        eventually(lambda: len(sender.store.due(sender.clock())) == len(NUMBERS),
                   what="every message in the outbox")
        sender.start()
        try:
            eventually(lambda: len(receiver.requests) == len(NUMBERS), timeout=30,
                       what="every message, one after the other, within one poll interval")
        finally:
            sender.stop()
    assert sorted(b["data"]["tracking_number"] for b in receiver.bodies()) == NUMBERS
