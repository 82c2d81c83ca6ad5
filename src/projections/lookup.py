"""The documents a tracking number finds: its shipment's own or, for a later
carrier's number, those of the shipment handed over under it (the links
view). Views only: a number neither view knows finds None, and nothing is
replayed. One object, so a handler is given one dependency, not two."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from projections.links import LinksView
from projections.shipments import ShipmentsView
from tracking.identifiers import TrackingNumber, shipment_id


@dataclass(frozen=True)
class NumberLookup:
    shipments: ShipmentsView
    links: LinksView

    async def public_view_async(self, tn: TrackingNumber) -> bytes | None:
        """The customer's view, without blocking the event loop."""
        found = await self.shipments.public_view_async(shipment_id(tn))
        if found is None:  # perhaps a later carrier's number, for a shipment handed over
            found = await asyncio.to_thread(self.links.linked_view, self.shipments.public_view, tn)
        return found

    def full_view(self, tn: TrackingNumber) -> bytes | None:
        """The agent's view."""
        own = self.shipments.full_view(shipment_id(tn))
        return own or self.links.linked_view(self.shipments.full_view, tn)
