"""Webhook secrets at rest: the events keep them sealed (tracking.webhook),
never in the clear; a subscription recorded before sealing (a plain secret,
class_version 1) still loads and signs, beside a secret rotated in after."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.composition import build_api, build_sender
from adapters.http.app import Api, create_app
from tests.builders import AGENT, at
from tests.notify.receiver import Receiver
from tests.notify.test_webhooks import ACME, System, settings_for
from tests.waiting import eventually
from tracking.personal_data import Sealed
from tracking.webhook import Webhook, secret_key

MASTER = base64.b64encode(os.urandom(32)).decode()


@pytest.fixture
def api(database_url: str) -> Api:
    return build_api(settings_for(database_url, TRACKING_MASTER_KEY=MASTER))


@pytest.fixture
def system(api: Api, database_url: str) -> Iterator[System]:
    settings = settings_for(database_url, TRACKING_MASTER_KEY=MASTER)
    with TestClient(app=create_app(api)) as client:
        sender = build_sender(settings, api.service, api.store, poll_interval=0.02)
        sender.start()
        try:
            yield System(client, sender, api.runner)
        finally:
            sender.stop()


def _states(api: Api, webhook_id: uuid.UUID) -> list[bytes]:
    return [bytes(s.state) for s in api.service.recorder.select_events(webhook_id)]


def test_the_stored_events_never_hold_a_secret(api: Api, system: System) -> None:
    receiver = Receiver()
    hook = system.subscribe(receiver.url, events=["shipment.status_changed"])
    r = system.client.post(f"/api/v1/webhooks/{hook['id']}/rotate", headers=ACME)
    assert r.status_code == 200, r.text
    rotated = r.json()["secret"]
    states = _states(api, uuid.UUID(hook["id"]))
    assert len(states) == 2 and receiver.url.encode() in states[0]  # readable JSON, not encrypted
    for secret in (hook["secret"], rotated):
        key = secret_key(secret)
        for state in states:
            assert secret.encode() not in state
            assert secret.removeprefix("whsec_").encode() not in state  # nor its base64
            assert key not in state  # nor its bytes
    # Still shown once at creation and rotation, and both sign.
    system.book()
    system.scan("RECEIVED", "HKHKG", at(3))
    eventually(lambda: receiver.requests, what="the message")
    assert receiver.verified(rotated) and receiver.verified(hook["secret"])


def _recorded_before_sealing(api: Api, url: str, key: bytes) -> uuid.UUID:
    """A subscription as this service recorded it before sealing: its
    Created event with the secret plain and no class_version."""
    webhook = Webhook.create(uuid.uuid4(), url, ["shipment.status_changed"], "acme", key, AGENT,
                             allow_http=True, seal=lambda secret: Sealed(plain=secret))
    stored = []
    for event in webhook.collect_events():
        s = api.service.mapper.to_stored_event(event)
        state = json.loads(s.state)
        del state["class_version"]
        state["secret"] = state["secret"]["plain"]
        stored.append(dataclasses.replace(s, state=json.dumps(state).encode()))
    assert b"whsec_" in stored[0].state and b"class_version" not in stored[0].state
    api.service.recorder.insert_events(stored)
    return webhook.id


def test_a_subscription_recorded_with_a_plain_secret_still_signs(api: Api,
                                                                   system: System) -> None:
    receiver = Receiver()
    key = os.urandom(24)
    plain = "whsec_" + base64.b64encode(key).decode()
    webhook_id = _recorded_before_sealing(api, receiver.url, key)
    assert api.service.webhooks.secrets(api.service.webhooks.get(webhook_id)) == [plain]
    assert system.runner is not None
    system.runner.catch_up()  # the outbox knows the subscription
    r = system.client.post(f"/api/v1/webhooks/{webhook_id}/rotate", headers=ACME)
    assert r.status_code == 200, r.text
    rotated = r.json()["secret"]
    assert rotated.encode() not in _states(api, webhook_id)[-1]  # the new one is sealed
    system.book()
    system.scan("RECEIVED", "HKHKG", at(3))
    eventually(lambda: receiver.requests, what="the message")
    headers, _ = receiver.requests[0]
    assert len(headers["webhook-signature"].split()) == 2  # the new secret's and the old one's
    assert receiver.verified(rotated) and receiver.verified(plain)
