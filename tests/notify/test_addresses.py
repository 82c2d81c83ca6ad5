"""SSRF: webhooks go to public https addresses only. Refused when the
subscription is made (422 naming the url) and again before every send."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
import socket
from typing import Any

import pytest
from litestar.testing import TestClient

from adapters.composition import build_api, build_sender
from adapters.http.app import create_app
from adapters.notify.sender import Sender
from tests.builders import at
from tests.notify.receiver import Receiver
from tests.notify.test_webhooks import ACME, EVERY_KIND, System, settings_for
from tests.waiting import eventually


@pytest.fixture
def strict(tmp_path: Any) -> Iterator[TestClient[Any]]:
    """The API as in production: TRACKING_WEBHOOKS_ALLOW_PRIVATE unset."""
    settings = settings_for(f"sqlite:///{tmp_path}/t.db", TRACKING_WEBHOOKS_ALLOW_PRIVATE="false")
    with TestClient(app=create_app(build_api(settings))) as client:
        yield client


@pytest.mark.parametrize("url", [
    "https://127.0.0.1/hook",            # loopback
    "https://localhost:8443/hook",       # a name for loopback
    "https://[::1]/hook",                # loopback, IPv6
    "https://10.1.2.3/hook",             # private
    "https://192.168.0.10/hook",         # private
    "https://169.254.169.254/latest/meta-data/",  # the cloud metadata service (link-local)
    "https://[fd00:ec2::254]/hook",      # AWS's IPv6 metadata address (unique local)
    "https://100.100.100.200/hook",      # shared address space (Alibaba's metadata)
    "https://0.0.0.0/hook",              # unspecified
    "https://[::ffff:127.0.0.1]/hook",   # loopback mapped into IPv6
    "http://example.com/hook",           # not https
    "ftp://example.com/hook",
    "https://user:pw@example.com/hook",  # credentials in the URL
    "https:///hook",                     # no host
    "https://no-such-host.invalid/hook",  # does not resolve
])
def test_a_url_that_is_not_a_public_https_address_is_refused(
    strict: TestClient[Any], url: str
) -> None:
    r = strict.post("/api/v1/webhooks", json={"url": url, "events": EVERY_KIND}, headers=ACME)
    assert r.status_code == 422, r.text
    assert r.json()["field"] == "url"
    assert strict.get("/api/v1/webhooks", headers=ACME).json() == []  # nothing recorded


def test_unknown_event_types_are_refused_naming_them(strict: TestClient[Any]) -> None:
    r = strict.post("/api/v1/webhooks", json={"url": "https://example.com/h",
                                              "events": ["shipment.teleported"]}, headers=ACME)
    assert r.status_code == 422, r.text
    assert "events" in r.json()["field"]


def test_the_address_is_judged_again_when_sending(tmp_path: Any) -> None:
    """A subscription made while private addresses were allowed is not sent
    to one by a sender that does not allow them (a name can resolve anew)."""
    receiver = Receiver()

    def strict_sender(sender: Sender) -> None:
        sender.allow_private = False

    with status_changed_sent_to(tmp_path, receiver.url, strict_sender) as (system, hook):
        attempts = eventually(lambda: system.deliveries(hook["id"]), what="an attempt")
    assert "127.0.0.1" in attempts[0]["error"] and attempts[0]["status_code"] is None
    assert receiver.requests == []


def test_redirects_are_not_followed(tmp_path: Any) -> None:
    settings = settings_for(f"sqlite:///{tmp_path}/t.db")
    api = build_api(settings)
    target = Receiver()
    redirector = Receiver(answers=[307] * 1000)  # to the target: a redirect is a failure
    redirector.location = target.url
    with TestClient(app=create_app(api)) as client:
        sender = build_sender(settings, api.service, api.store, backoff=0.05, max_backoff=0.1,
                              poll_interval=0.02)
        sender.start()
        try:
            system = System(client, sender)
            hook = system.subscribe(redirector.url, events=["shipment.status_changed"])
            system.book()
            system.scan("RECEIVED", "HKHKG", at(3))
            attempts = eventually(lambda: len(system.deliveries(hook["id"])) >= 2
                                  and system.deliveries(hook["id"]), what="two attempts")
        finally:
            sender.stop()
    assert {a["status_code"] for a in attempts} == {307}
    assert all(a["state"] == "retrying" for a in attempts)
    assert target.requests == []


def test_a_webhook_goes_to_the_address_that_was_checked_not_to_a_new_lookup(
    tmp_path: Any,
) -> None:
    """DNS rebinding: the name is resolved once a send, judged, and the
    request goes to that address (Host header and TLS name the original
    host). The receiver listens on 127.0.0.2 only; the sender's lookup says
    localhost is 127.0.0.2, while the system's says 127.0.0.1, where nothing
    listens: a second lookup by the HTTP client would not reach it."""
    receiver = Receiver(host="127.0.0.2")
    looked_up: list[str] = []

    def resolve(host: str, port: int, **kw: Any) -> list[Any]:
        looked_up.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.2", port))]

    def own_lookup(sender: Sender) -> None:
        sender.resolve = resolve

    with status_changed_sent_to(tmp_path, f"http://localhost:{receiver.port}/hook", own_lookup):
        eventually(lambda: receiver.requests, what="the webhook at 127.0.0.2")
    headers, _ = receiver.requests[0]
    assert headers["host"] == f"localhost:{receiver.port}"
    assert looked_up and set(looked_up) == {"localhost"}


@contextmanager
def status_changed_sent_to(
    tmp_path: Any, url: str, adjust: Callable[[Sender], None]
) -> Iterator[tuple[System, dict[str, Any]]]:
    """A sender, adjusted, running while a shipment subscribed to at
    ``url`` gets its first scan."""
    settings = settings_for(f"sqlite:///{tmp_path}/t.db")
    api = build_api(settings)
    with TestClient(app=create_app(api)) as client:
        sender = build_sender(settings, api.service, api.store, backoff=0.05, max_backoff=0.1,
                              poll_interval=0.02)
        adjust(sender)
        sender.start()
        try:
            system = System(client, sender)
            hook = system.subscribe(url, events=["shipment.status_changed"])
            system.book()
            system.scan("RECEIVED", "HKHKG", at(3))
            yield system, hook
        finally:
            sender.stop()
