"""What a shipment carries for purchase orders (its cargo): each order's
lines on it and when they are needed, as the order's notices say, kept on
the shipment so that what is judged of a shipment (its exceptions, the
messages they send) can judge whether it arrives in time for them.

The order stays the record: the orders' service (``tracking.purchase_orders``)
writes the shipment's cargo beside every change of an order that changes
what the shipment carries for it (a notice, an amendment, a cancellation,
a receipt, after which nothing more is on its way). A part of the
aggregate (``tracking.shipment``); its event is the Shipment's own.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

import msgspec

from tracking.scan import Source
from tracking.stock import Risk

if TYPE_CHECKING:
    from tracking.shipment import Shipment


class CarriedLine(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What a shipment carries of one open line of an order, not yet counted in."""

    sku: str
    quantity: int
    need_by: datetime
    warehouse: str = ""  # the order's UN/LOCODE: where it is inbound to ("": noted before)


Carried = tuple[CarriedLine, ...]


class OrderRisk(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    po_number: str
    sku: str
    quantity: int
    risk: Risk

    @property
    def key(self) -> str:
        return f"{self.po_number}/{self.sku}"

    def describe(self) -> str:
        return f"{self.po_number} {self.sku}: {self.risk.describe()}"


class Cargo:
    """Mixed into ``Shipment``: every method runs on a Shipment."""

    def carry(self: Shipment, po_number: str, lines: Carried, source: Source) -> bool:
        """What it carries for the order now (nothing: no more); False when
        that is what is recorded."""
        if self.cargo.get(po_number, ()) == lines:
            return False
        self.trigger_event(self.CargoNotified, po_number=po_number, lines=lines, source=source)
        return True


def risks(tracking_number: str, cargo: Mapping[str, Carried],
          latest: datetime | None) -> list[OrderRisk]:
    """The lines it carries that it may arrive after (``latest``: the
    latest it may arrive, as its ETA window says), as the orders' view
    judges a line at risk (``tracking.stock.line_progress``)."""
    if latest is None:
        return []
    return [OrderRisk(po_number=po, sku=line.sku, quantity=line.quantity,
                      risk=Risk(tracking_number=tracking_number, latest=latest,
                                need_by=line.need_by))
            for po, lines in sorted(cargo.items()) for line in lines if latest > line.need_by]
