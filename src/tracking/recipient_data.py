"""The Shipment's commands on the recipient's personal data: a customer's
request for e-mail updates (an address, sealed) and the erasure of it all
(``tracking.personal_data`` seals and blanks). A part of the aggregate
(``tracking.shipment``), kept apart; the events they trigger are the
Shipment's own, and their ``apply`` comes here."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from tracking import personal_data
from tracking.scan import Source
from tracking.subscription import Subscription

if TYPE_CHECKING:
    from tracking.shipment import Shipment


class RecipientData:
    """Mixed into ``Shipment``: every method runs on a Shipment."""

    def subscribe(self: Shipment, subscription: Subscription, source: Source) -> bool:
        """Record a request for e-mail updates; False when that address
        already asked."""
        self.require_booked()
        if any(s.email == subscription.email for s in self.subscriptions):
            return False
        self.trigger_event(self.NotificationSubscribed, subscription=subscription, source=source)
        return True

    def erase_personal_data(self: Shipment, reason: str, at: datetime, source: Source) -> bool:
        """Record that the recipient's personal data was erased (its key is
        deleted by the caller); False when it already was."""
        self.require_booked()
        if self.personal_data_erased_at is not None:
            return False
        self.trigger_event(self.PersonalDataErased, reason=reason, erased_at=at, source=source)
        return True

    def apply_erasure(self: Shipment, erased_at: datetime) -> None:
        """``PersonalDataErased``: blank what it holds, sealed or (recorded
        before sealing) plain."""
        self.personal_data_erased_at = erased_at
        self.booking, self.subscriptions = personal_data.blanked(self.booking, self.subscriptions)
