"""The webhook subscriptions' application service: subscribe a merchant's
URL, read a subscription as last saved by any process, and change it
(rotate its secret, disable it on a ``410 Gone``, delete it). Secrets are
sealed here, through the ``Vault``, before any event holds them, and opened
for the sender (``secrets``)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar
from uuid import UUID, uuid4

from tracking.personal_data import Vault
from tracking.scan import Source
from tracking.unitofwork import AggregateStore, UnitOfWork, last_position
from tracking.webhook import SECRET_PURPOSE, Seal, Webhook, WebhookNotFound, secret_subject

T = TypeVar("T")


class Webhooks:
    def __init__(self, store: AggregateStore, vault: Vault) -> None:
        self.store, self.vault = store, vault

    def _seal(self, webhook_id: UUID) -> Seal:
        subject = secret_subject(webhook_id)
        return lambda secret: self.vault.seal(subject, SECRET_PURPOSE, secret)

    def secrets(self, webhook: Webhook) -> list[str]:
        """The subscription's valid secrets, opened (newest first); one
        whose key is gone is left out."""
        subject = secret_subject(webhook.id)
        opened = (self.vault.open(subject, SECRET_PURPOSE, s) for s in webhook.secrets)
        return [s for s in opened if s is not None]

    def create(
        self, url: str, events: list[str], account: str, key: bytes, source: Source,
        *, allow_http: bool = False,
    ) -> tuple[Webhook, int | None]:
        """Record a merchant's webhook subscription (``key``: its first
        signing key); the subscription and the log position recorded."""

        webhook_id = uuid4()  # first: its secret is sealed under it

        def command(unit: UnitOfWork) -> Webhook:
            webhook = Webhook.create(webhook_id, url, events, account, key, source,
                                     allow_http=allow_http, seal=self._seal(webhook_id))
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

    def rotate(self, webhook_id: UUID, key: bytes, source: Source) -> tuple[str, int | None]:
        """A new secret for the subscription (the one before still signs);
        the new one in the clear, to be shown once, and the log position."""
        seal = self._seal(webhook_id)
        return self.change(webhook_id, lambda w: w.rotate(key, source, seal))

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
