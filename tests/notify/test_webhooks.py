"""Webhooks to merchants, end to end: the real app and views on each store,
the real sender, real receivers on loopback whose signatures the Standard
Webhooks reference implementation verifies."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.composition import build_api, build_sender
from adapters.http.app import create_app
from adapters.notify.sender import Sender
from adapters.settings import Settings
from tests.builders import at
from tests.e2e.test_http import BOOKING, TN
from tests.notify.receiver import Receiver
from tests.waiting import eventually

ACME = {"Authorization": "Bearer acme-token"}
OTHER = {"Authorization": "Bearer other-token"}
DEVICE = {"Authorization": "Bearer d-token"}
TOKENS = "merchant:acme-token:acme,merchant:other-token:other,device:d-token,agent:a-token"
EVERY_KIND = ["shipment.status_changed", "shipment.exception_raised", "shipment.eta_revised",
              "shipment.delivered"]

# A whole life on the booked route: INFO_RECEIVED, IN_TRANSIT, OUT_FOR_DELIVERY, DELIVERED.
LIFE = [("RECEIVED", "HKHKG", at(3), None), ("LOADED", "HKHKG", at(3, 6), "V100"),
        ("UNLOADED", "USLAX", at(9), "V100"), ("LOADED", "USLAX", at(10), "R200"),
        ("UNLOADED", "USNYC", at(13), "R200"), ("LOADED", "USNYC", at(14), "A300"),
        ("UNLOADED", "SESTO", at(15), "A300"), ("OUT_FOR_DELIVERY", "SESTO", at(15, 8), None),
        ("DELIVERED", "SESTO", at(15, 12), None)]


@dataclass
class System:
    client: TestClient[Any]
    sender: Sender
    runner: Any = None  # the app's projection runner

    def subscribe(self, url: str, headers: dict[str, str] = ACME,
                  events: list[str] = EVERY_KIND) -> dict[str, Any]:
        r = self.client.post("/api/v1/webhooks", json={"url": url, "events": events},
                             headers=headers)
        assert r.status_code == 201, r.text
        return r.json()

    def book(self, tn: str = TN, headers: dict[str, str] = ACME) -> None:
        r = self.client.post("/api/v1/shipments", json=BOOKING | {"tracking_number": tn},
                             headers=headers)
        assert r.status_code == 201, r.text

    def scan(self, event: str, location: str, when: datetime, voyage: str | None = None,
             tn: str = TN) -> None:
        body = {"scan_id": uuid.uuid4().hex, "device_id": "dock-7", "tracking_number": tn,
                "event": event, "location": location, "occurred_at": when.isoformat(),
                **({"voyage": voyage} if voyage else {})}
        r = self.client.post("/api/v1/scans", json=body, headers=DEVICE)
        assert r.status_code == 201, r.text

    def live(self, tn: str = TN) -> None:
        for event, location, when, voyage in LIFE:
            self.scan(event, location, when, voyage, tn)

    def deliveries(self, webhook_id: str, headers: dict[str, str] = ACME) -> list[dict[str, Any]]:
        r = self.client.get(f"/api/v1/webhooks/{webhook_id}/deliveries", headers=headers)
        assert r.status_code == 200, r.text
        return list(reversed(r.json()))  # oldest first


def settings_for(database_url: str, **extra: str) -> Settings:
    return Settings.from_env({"TRACKING_DATABASE_URL": database_url, "TRACKING_API_TOKENS": TOKENS,
                              "TRACKING_WEBHOOKS_ALLOW_PRIVATE": "true", **extra})


@pytest.fixture
def system(database_url: str) -> Iterator[System]:
    settings = settings_for(database_url)
    api = build_api(settings)
    with TestClient(app=create_app(api)) as client:
        # Quick retries, so a test sees several attempts in a second.
        sender = build_sender(settings, api.service, api.store, backoff=0.05, max_backoff=0.2,
                              poll_interval=0.02, timeout=10.0)
        sender.start()
        try:
            yield System(client, sender, api.runner)
        finally:
            sender.stop()


def chain(bodies: list[dict[str, Any]]) -> list[str]:
    """The statuses the status_changed messages tell, each checked to follow
    from the one before (previous_status)."""
    changes = [b["data"] for b in bodies if b["type"] == "shipment.status_changed"]
    for before, after in zip(changes, changes[1:]):
        assert after["previous_status"] == before["status"]
    return [changes[0]["previous_status"], *(c["status"] for c in changes)] if changes else []


def test_each_change_reaches_the_receiver_signed_in_order(system: System) -> None:
    receiver = Receiver()
    hook = system.subscribe(receiver.url)
    assert hook["secret"].startswith("whsec_") and hook["account"] == "acme"
    system.book()
    system.live()
    eventually(lambda: any(b["type"] == "shipment.delivered" for b in receiver.bodies()),
               what="the delivered message")
    sent = receiver.verified(hook["secret"])  # every signature checked by standardwebhooks
    bodies = [body for _, body in sent]
    assert chain(bodies) == ["INFO_RECEIVED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"]
    assert bodies[-1]["type"] == "shipment.delivered"
    assert all(b["data"]["tracking_number"] == TN and b["data"]["account"] == "acme"
               for b in bodies)
    assert len({i for i, _ in sent}) == len(sent)  # a message's id is its own
    listed = system.client.get("/api/v1/webhooks", headers=ACME).json()
    assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]


def test_a_receiver_failing_twice_gets_the_message_again_under_the_same_id(
    system: System,
) -> None:
    receiver = Receiver(answers=[500, 503])
    hook = system.subscribe(receiver.url, events=["shipment.status_changed"])
    system.book()
    system.scan("RECEIVED", "HKHKG", at(3))
    eventually(lambda: len(receiver.requests) >= 3, what="three attempts")
    ids = [i for i, _ in receiver.verified(hook["secret"])]
    assert len(ids) == 3 and len(set(ids)) == 1
    attempts = eventually(lambda: len(system.deliveries(hook["id"])) == 3
                          and system.deliveries(hook["id"]), what="three attempts recorded")
    assert [a["status_code"] for a in attempts] == [500, 503, 200]
    assert [a["attempt"] for a in attempts] == [1, 2, 3]
    assert {a["message_id"] for a in attempts} == set(ids)
    assert attempts[-1]["state"] == "delivered" and all(a["duration_ms"] >= 0 for a in attempts)


def test_a_receiver_down_then_up_gets_every_message_in_order(system: System) -> None:
    receiver = Receiver()
    hook = system.subscribe(receiver.url)
    receiver.down()
    system.book()
    system.live()
    eventually(lambda: any(a["error"] for a in system.deliveries(hook["id"])),
               what="a refused connection recorded")
    receiver.up()
    eventually(lambda: any(b["type"] == "shipment.delivered" for b in receiver.bodies()),
               what="everything, once the receiver is up")
    bodies = [b for _, b in receiver.verified(hook["secret"])]
    assert chain(bodies) == ["INFO_RECEIVED", "IN_TRANSIT", "OUT_FOR_DELIVERY", "DELIVERED"]


def test_410_gone_disables_the_subscription(system: System) -> None:
    receiver = Receiver(answers=[410])
    hook = system.subscribe(receiver.url, events=["shipment.status_changed"])
    system.book()
    system.scan("RECEIVED", "HKHKG", at(3))
    eventually(lambda: [h["active"] for h in system.client.get(
        "/api/v1/webhooks", headers=ACME).json()] == [False], what="the subscription disabled")
    system.scan("OUT_FOR_DELIVERY", "SESTO", at(15, 8))
    # Another subscription of the account is sent the later change; the disabled one is not.
    other = Receiver()
    system.subscribe(other.url, events=["shipment.status_changed"])
    system.scan("DELIVERED", "SESTO", at(15, 12))
    eventually(lambda: other.requests, what="the other subscription's message")
    assert len(receiver.requests) == 1
    assert [a["status_code"] for a in system.deliveries(hook["id"])] == [410]


def test_a_slow_receiver_does_not_hold_back_another(system: System) -> None:
    slow, fast = Receiver(), Receiver()
    slow.hold()  # answers nothing until released
    system.subscribe(slow.url)
    system.subscribe(fast.url)
    system.book()
    system.live()
    eventually(lambda: any(b["type"] == "shipment.delivered" for b in fast.bodies()),
               what="every message at the fast receiver")
    assert slow.requests == []  # still holding its first
    slow.release.set()
    eventually(lambda: any(b["type"] == "shipment.delivered" for b in slow.bodies()),
               what="every message at the slow receiver, once it answers")
    assert chain(slow.bodies()) == chain(fast.bodies())


def test_another_account_s_shipment_is_never_notified(system: System) -> None:
    mine, theirs = Receiver(), Receiver()
    system.subscribe(mine.url, ACME)
    other_hook = system.subscribe(theirs.url, OTHER)
    system.book(headers=ACME)
    system.live()
    eventually(lambda: any(b["type"] == "shipment.delivered" for b in mine.bodies()),
               what="the account's own messages")
    assert theirs.requests == [] and system.deliveries(other_hook["id"], OTHER) == []
    # Nor does one merchant see another's subscription: the same 404 as none at all.
    for path in (f"/api/v1/webhooks/{other_hook['id']}/deliveries",):
        assert system.client.get(path, headers=ACME).status_code == 404
    assert system.client.delete(f"/api/v1/webhooks/{other_hook['id']}",
                                headers=ACME).status_code == 404
    assert [h["id"] for h in system.client.get("/api/v1/webhooks", headers=OTHER).json()] == [
        other_hook["id"]]


def test_a_rotated_secret_signs_beside_the_previous_one(system: System) -> None:
    receiver = Receiver()
    hook = system.subscribe(receiver.url, events=["shipment.status_changed"])
    r = system.client.post(f"/api/v1/webhooks/{hook['id']}/rotate", headers=ACME)
    assert r.status_code == 200, r.text
    new = r.json()["secret"]
    assert new != hook["secret"]
    system.book()
    system.scan("RECEIVED", "HKHKG", at(3))
    eventually(lambda: receiver.requests, what="the message")
    assert receiver.verified(new) and receiver.verified(hook["secret"])  # both verify


def test_replay_sends_again_from_a_time_with_the_same_ids(system: System) -> None:
    receiver = Receiver()
    hook = system.subscribe(receiver.url, events=["shipment.status_changed"])
    system.book()
    system.live()
    eventually(lambda: len(receiver.requests) == 3, what="three status changes")
    first = [i for i, _ in receiver.verified(hook["secret"])]
    r = system.client.post(f"/api/v1/webhooks/{hook['id']}/replay",
                           params={"since": "2000-01-01T00:00:00Z"}, headers=ACME)
    assert r.status_code == 202 and r.json()["messages"] == 3, r.text
    eventually(lambda: len(receiver.requests) == 6, what="the three again")
    assert [i for i, _ in receiver.verified(hook["secret"])] == first + first


def test_a_deleted_subscription_is_sent_nothing_more(system: System) -> None:
    receiver = Receiver()
    hook = system.subscribe(receiver.url, events=["shipment.status_changed"])
    assert system.client.delete(f"/api/v1/webhooks/{hook['id']}", headers=ACME).status_code == 200
    other = Receiver()
    system.subscribe(other.url, events=["shipment.status_changed"])
    system.book()
    system.scan("RECEIVED", "HKHKG", at(3))
    eventually(lambda: other.requests, what="the remaining subscription's message")
    assert receiver.requests == []
    assert system.client.get(f"/api/v1/webhooks/{hook['id']}/deliveries",
                             headers=ACME).status_code == 404



def test_a_rebuilt_outbox_keeps_what_was_delivered(system: System) -> None:
    """A rebuild of the outbox decides the same messages again (from the log,
    in order, under the same ids) and the sender finds them delivered:
    nothing is sent twice, and what comes after is sent."""
    receiver = Receiver()
    hook = system.subscribe(receiver.url, events=["shipment.status_changed"])
    system.book()
    for event, location, when, voyage in LIFE[:-1]:  # up to out for delivery
        system.scan(event, location, when, voyage)
    eventually(lambda: len(receiver.requests) == 2, what="two status changes")
    assert system.runner is not None
    system.runner.rebuild(["outbox"])  # the app's own runner, as `tracking rebuild outbox` would
    system.scan(*LIFE[-1])
    eventually(lambda: len(receiver.requests) == 3, what="the delivery")
    ids = [i for i, _ in receiver.verified(hook["secret"])]
    assert len(set(ids)) == 3  # the first two were not sent again
    assert chain(receiver.bodies()) == ["INFO_RECEIVED", "IN_TRANSIT", "OUT_FOR_DELIVERY",
                                        "DELIVERED"]
