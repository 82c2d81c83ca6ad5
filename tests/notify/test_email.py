"""Customer e-mail: an address subscribed on the tracking page is told of
each status change, in the subscriber's language, with a link to the page;
a real SMTP server (aiosmtpd) on loopback receives it."""

from __future__ import annotations

import email
import email.policy
from collections.abc import Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from litestar.testing import TestClient

from adapters.composition import build_api, build_sender
from adapters.http.app import create_app
from tests.builders import AGENT, at
from tests.notify.test_webhooks import System, settings_for
from tests.ports import free_port
from tests.waiting import eventually
from tracking.identifiers import TrackingNumber
from tracking.subscription import EmailAddress

TN = "LX123456785CN"


class Mailbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 OK"

    def to(self, address: str) -> list[EmailMessage]:
        return [m for rcpt, m in self.received if address in rcpt]


@pytest.fixture
def mailbox() -> Iterator[tuple[Mailbox, int]]:
    box, port = Mailbox(), free_port()
    server = Controller(box, hostname="127.0.0.1", port=port)
    server.start()
    try:
        yield box, port
    finally:
        server.stop()


@pytest.fixture
def system(database_url: str, mailbox: tuple[Mailbox, int]) -> Iterator[System]:
    settings = settings_for(database_url, TRACKING_SMTP_URL=f"smtp://127.0.0.1:{mailbox[1]}",
                            TRACKING_SMTP_FROM="parcels@shop.example",
                            TRACKING_PUBLIC_URL="https://track.shop.example")
    api = build_api(settings)
    with TestClient(app=create_app(api)) as client:
        sender = build_sender(settings, api.service, api.store, backoff=0.05, max_backoff=0.2,
                              poll_interval=0.02)
        sender.start()
        try:
            yield System(client, sender)
        finally:
            sender.stop()


def test_subscribers_are_told_of_a_status_change_each_in_their_language(
    system: System, mailbox: tuple[Mailbox, int]
) -> None:
    box, _ = mailbox
    system.book()
    service = system.sender.service
    service.shipments.subscribe(TrackingNumber(TN), EmailAddress("kunde@example.de"), "de", AGENT)
    service.shipments.subscribe(TrackingNumber(TN), EmailAddress("customer@example.com"), "en", AGENT)
    system.scan("RECEIVED", "HKHKG", at(3))
    german = eventually(lambda: box.to("kunde@example.de"), what="the German e-mail")[0]
    english = eventually(lambda: box.to("customer@example.com"), what="the English e-mail")[0]
    assert german["Subject"] == f"Unterwegs: {TN}"
    assert german["From"] == "parcels@shop.example" and german["Content-Language"] == "de"
    text = german.get_content()
    assert "Ihr Paket ist unterwegs." in text
    assert f"https://track.shop.example/track/{TN}?lang=de" in text
    assert english["Subject"] == f"In transit: {TN}"
    assert "Your parcel is on its way." in english.get_content()
    assert f"https://track.shop.example/track/{TN}?lang=en" in english.get_content()
    # Out for delivery is a change of its own: one e-mail more each, in order.
    system.scan("OUT_FOR_DELIVERY", "SESTO", at(15, 8))
    eventually(lambda: len(box.to("kunde@example.de")) == 2, what="the second German e-mail")
    assert box.to("kunde@example.de")[1]["Subject"] == f"In Zustellung: {TN}"
