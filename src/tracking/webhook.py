"""A merchant's webhook subscription: where to send which kinds of message
about its account's shipments, and the secrets they are signed with.

A subscription is an aggregate of its own (``Webhook``), so creating,
rotating, disabling (a ``410 Gone``) and deleting it are on the record.
Its secrets live in its events, sealed (AES-GCM under a data key of the
subscription's own, wrapped by the master key: tracking.personal_data's
``Vault``, subject ``secret_subject``), so the log never holds one in the
clear; the sender opens them to sign. Events recorded before sealing
(class_version 1) held the secret plain: they read as ``Sealed(plain=...)``
and still sign. A rotation keeps the previous secret valid beside the new
one (Standard Webhooks: one signature per secret), until the next rotation
drops it.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable
from enum import StrEnum
from typing import Any
from urllib.parse import urlsplit

from eventsourcing.domain import Aggregate

from tracking.account import check_account
from tracking.errors import InvalidInput, TrackingError
from tracking.personal_data import Sealed
from tracking.scan import Source

SECRET_PREFIX = "whsec_"  # nosec B105: a public prefix, not a secret
SECRET_PURPOSE = "webhook-secret"  # nosec B105: what a sealed value is, not a secret
MAX_URL = 2000
Seal = Callable[[str], Sealed]  # a secret as the subscription's events keep it


def secret_subject(webhook_id: uuid.UUID) -> str:
    """The data subject a subscription's secrets are sealed under."""
    return f"webhook:{webhook_id}"


def upcast_secret_v1(state: dict[str, Any]) -> None:
    """A v1 event's secret was plain: it reads as not yet sealed."""
    state["secret"] = {"plain": state["secret"]}


class WebhookEvent(StrEnum):
    """The kinds of message a subscription may ask for."""

    STATUS_CHANGED = "shipment.status_changed"
    EXCEPTION_RAISED = "shipment.exception_raised"
    ETA_REVISED = "shipment.eta_revised"
    DELIVERED = "shipment.delivered"
    # A purchase order's line the shipment carries may now arrive after it is needed.
    PO_AT_RISK = "purchase_order.at_risk"


class WebhookNotFound(TrackingError, LookupError):
    """No webhook subscription by this id (or it belongs to another account,
    which is the same to the merchant asking), or it was deleted."""

    def __init__(self, webhook_id: uuid.UUID | str) -> None:
        super().__init__(f"no webhook {webhook_id}")


def secret_text(key: bytes) -> str:
    """A signing key as shown to the merchant: ``whsec_`` + base64."""
    return SECRET_PREFIX + base64.b64encode(key).decode()


def secret_key(secret: str) -> bytes:
    """The signing key of a ``whsec_`` secret (what HMAC is keyed with)."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def check_url(url: str, *, allow_http: bool) -> str:
    """``url`` if it can be a receiver's address: https (http too when
    allowed), a host, no credentials. Where it resolves to is judged by the
    sender's adapter, at creation and again at every send."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL or not url.isprintable():
        raise InvalidInput("url", f"must be an https URL of at most {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise InvalidInput("url", "is not a URL") from None
    schemes = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in schemes:
        raise InvalidInput("url", "must be https" + (" or http" if allow_http else ""))
    if not parts.hostname:
        raise InvalidInput("url", "names no host")
    if parts.username or parts.password:
        raise InvalidInput("url", "must not carry credentials (the signature authenticates)")
    return url


def check_events(events: list[str]) -> tuple[WebhookEvent, ...]:
    if not isinstance(events, list) or not events:
        raise InvalidInput("events", "must name at least one event type")
    known = {e.value for e in WebhookEvent}
    found: list[WebhookEvent] = []
    for i, name in enumerate(events):
        if name not in known:
            raise InvalidInput(f"events[{i}]", f"{name!r} is not one of {', '.join(sorted(known))}")
        if WebhookEvent(name) not in found:
            found.append(WebhookEvent(name))
    return tuple(found)


class Webhook(Aggregate):
    class Created(Aggregate.Created):
        """A merchant asked to be sent these kinds of message at ``url``."""

        # v2: the secret is sealed (v1: plain).
        class_version = 2

        url: str
        events: list[str]
        account: str
        secret: Sealed
        source: Source

        upcast_v1_v2 = staticmethod(upcast_secret_v1)

    class SecretRotated(Aggregate.Event):
        """A new secret signs from now on; the previous one still does too."""

        class_version = 2  # as Created's

        secret: Sealed
        source: Source

        upcast_v1_v2 = staticmethod(upcast_secret_v1)

        def apply(self, aggregate: Any) -> None:
            aggregate.secrets = [self.secret, *aggregate.secrets[:1]]

    class Disabled(Aggregate.Event):
        """Nothing more is sent (the receiver answered 410 Gone)."""

        reason: str
        source: Source

        def apply(self, aggregate: Any) -> None:
            aggregate.disabled = True

    class Deleted(Aggregate.Event):
        """The merchant deleted the subscription."""

        source: Source

        def apply(self, aggregate: Any) -> None:
            aggregate.deleted = True

    def __init__(self, url: str, events: list[str], account: str, secret: Sealed,
                 source: Source) -> None:
        self.url = url
        self.events = list(events)
        self.account = account
        self.secrets = [secret]
        self.disabled = False
        self.deleted = False

    @classmethod
    def create(cls, webhook_id: uuid.UUID, url: str, events: list[str], account: str,
               key: bytes, source: Source, *, allow_http: bool, seal: Seal) -> Webhook:
        """A new subscription; ``key`` is its first signing key and
        ``webhook_id`` its id (random, made by the caller: no randomness in
        the domain), ``seal`` how its secrets are kept (under that id)."""
        check_url(url, allow_http=allow_http)
        kinds = check_events(events)
        check_account("account", account)
        if len(key) < 24:
            raise InvalidInput("secret", "a signing key needs at least 24 bytes")
        return cls._create(cls.Created, id=webhook_id, url=url, events=[k.value for k in kinds],
                           account=account, secret=seal(secret_text(key)), source=source)

    @property
    def active(self) -> bool:
        return not (self.disabled or self.deleted)

    def rotate(self, key: bytes, source: Source, seal: Seal) -> str:
        """A new secret (answered once, in the clear), sealed by ``seal``."""
        self._require_present()
        secret = secret_text(key)
        self.trigger_event(self.SecretRotated, secret=seal(secret), source=source)
        return secret

    def disable(self, reason: str, source: Source) -> bool:
        if not self.active:
            return False
        self.trigger_event(self.Disabled, reason=reason, source=source)
        return True

    def delete(self, source: Source) -> None:
        self._require_present()
        self.trigger_event(self.Deleted, source=source)

    def _require_present(self) -> None:
        if self.deleted:
            raise WebhookNotFound(self.id)


def message_id(webhook: uuid.UUID, shipment: uuid.UUID, version: int, kind: str) -> str:
    """A message's ``webhook-id``: the same for every attempt, and for the
    same message decided again by a rebuilt outbox."""
    return "msg_" + uuid.uuid5(webhook, f"{shipment}:{version}:{kind}").hex
