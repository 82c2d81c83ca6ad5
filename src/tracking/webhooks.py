"""The webhook subscriptions' application service: subscribe a merchant's
URL, read a subscription as last saved by any process, and change it
(rotate its secret, disable it on a ``410 Gone``, delete it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from uuid import UUID

from tracking.scan import Source
from tracking.unitofwork import AggregateStore, UnitOfWork, last_position
from tracking.webhook import Webhook, WebhookNotFound

T = TypeVar("T")


class Webhooks:
    def __init__(self, store: AggregateStore) -> None:
        self.store = store

    def create(
        self, url: str, events: list[str], account: str, key: bytes, source: Source,
        *, allow_http: bool = False,
    ) -> tuple[Webhook, int | None]:
        """Record a merchant's webhook subscription (``key``: its first
        signing key); the subscription and the log position recorded."""

        def command(unit: UnitOfWork) -> Webhook:
            webhook = Webhook.create(url, events, account, key, source, allow_http=allow_http)
            unit.changed(webhook)
            return webhook

        recordings, webhook = self.store.write([], command)
        return webhook, last_position(recordings)

    def get(self, webhook_id: UUID) -> Webhook:
        """A webhook subscription that has not been deleted, as last saved
        by any process (a cached one is checked against the store)."""
        found = self.store.get(webhook_id, Webhook)
        if found is None or found.deleted:
            raise WebhookNotFound(webhook_id)
        return found

    def change(self, webhook_id: UUID, change: Callable[[Webhook], T]) -> tuple[T, int | None]:
        """Apply ``change`` (rotate, disable, delete) to a subscription and save it."""

        def command(unit: UnitOfWork) -> T:
            webhook = unit.get(webhook_id, Webhook)
            if webhook is None or webhook.deleted:
                raise WebhookNotFound(webhook_id)
            result = change(webhook)
            unit.changed(webhook)
            return result

        recordings, result = self.store.write([webhook_id], command)
        return result, last_position(recordings)
