"""Two senders on one PostgreSQL outbox (a second `tracking notify`, or
`tracking all` beside one) take turns under the senders' lease: one sends,
the other stands by, so no message goes out twice; when the one sending
stops, the other takes over and sends what comes next."""

from __future__ import annotations

from typing import Any

from litestar.testing import TestClient

from adapters.composition import build_api, build_sender
from adapters.http.app import create_app
from adapters.notify.sender import SENDING
from tests.builders import at
from tests.notify.receiver import Receiver
from tests.notify.test_webhooks import System, settings_for
from tests.waiting import eventually
from tracking.identifiers import s10_check_digit

FIRST = [f"LX{n}{s10_check_digit(n)}CN" for n in ("20000001", "20000002", "20000003",
                                                    "20000004", "20000005", "20000006")]
LATER = [f"LX{n}{s10_check_digit(n)}CN" for n in ("20000007", "20000008")]


def test_two_senders_never_send_a_message_twice_and_one_takes_over(
    postgres_schema_url: str,
) -> None:
    settings = settings_for(postgres_schema_url)
    api = build_api(settings)
    receiver = Receiver()
    with TestClient(app=create_app(api)) as client:
        senders = [build_sender(settings, api.service, api.store, poll_interval=0.02)
                   for _ in range(2)]
        system = System(client, senders[0])
        hook = system.subscribe(receiver.url, events=["shipment.status_changed"])
        for tn in FIRST:
            system.book(tn)
            system.scan("RECEIVED", "HKHKG", at(3), tn=tn)
        for sender in senders:
            sender.start()
        try:
            eventually(lambda: len(receiver.requests) >= len(FIRST), what="the first messages")
            holders = eventually(lambda: [s for s in senders if SENDING in s.lease.held()],
                                 what="a sender holding the lease")
            assert len(holders) == 1
            [standby] = [s for s in senders if s is not holders[0]]
            holders[0].stop()
            for tn in LATER:
                system.book(tn)
                system.scan("RECEIVED", "HKHKG", at(3), tn=tn)
            eventually(lambda: len(receiver.requests) >= len(FIRST + LATER),
                       what="the later messages, from the sender that stood by")
            assert SENDING in standby.lease.held()
        finally:
            for sender in senders:
                sender.stop()
    ids = [message_id for message_id, _ in receiver.verified(hook["secret"])]
    assert len(ids) == len(set(ids)) == len(FIRST + LATER)  # each sent once
    assert sorted(b["data"]["tracking_number"] for b in receiver.bodies()) == sorted(FIRST + LATER)
