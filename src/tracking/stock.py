"""Stock in transit: what an order's lines stand at, given what is known of
the shipments that carry them, and what is expected to arrive when.

A shipment's part of a line is, in this order of precedence: received as
counted (a receipt), received in full as notified (DELIVERED at the order's
warehouse with no receipt), un-shipped (RETURNED or LOST: no longer on its
way), missing (delivered somewhere else), or in transit. A carrier's
retraction of a scan undoes what it moved: a shipment whose DELIVERED or
LOST is retracted is on its way again. A line is at risk
when a shipment carrying it in transit may arrive (its window's latest, or
its ETA, or its deliver-by) after the line's ``need_by``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from enum import StrEnum

import msgspec

from tracking.codes import ExceptionReason, ScanEvent
from tracking.order_line import CountedLine, OrderLine, ShippedLine
from tracking.scan import Scan


class Ended(StrEnum):
    RETURNED = "RETURNED"
    LOST = "LOST"


class Move(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """A scan that moves stock: RECEIVED, DELIVERED, RETURNED or LOST."""

    scan_id: str
    event: str
    location: str
    occurred_at: datetime


class Carriage(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """What the purchase orders' read model knows of one shipment: from its
    booking and scans, and its ETA from the shipments' view."""

    tracking_number: str
    account: str | None = None
    origin: str | None = None
    destination: str | None = None
    carrier: str | None = None
    mode: str | None = None
    started_at: datetime | None = None  # the first RECEIVED scan
    delivered_at: datetime | None = None
    delivered_location: str | None = None
    ended: Ended | None = None
    eta: datetime | None = None
    latest: datetime | None = None  # the window's latest, else the ETA, else deliver-by
    moves: list[Move] = []  # what the fields above are derived from (retractions undo them)

    def delivered_to(self, warehouse: str) -> bool:
        return self.delivered_at is not None and self.delivered_location == warehouse

    def moved(self, move: Move) -> None:
        if all(m.scan_id != move.scan_id for m in self.moves):
            self.moves.append(move)
            self._settle()

    def retract(self, scan_id: str) -> bool:
        """Forget a scan the carrier declared an error; False when it moved nothing."""
        kept = [m for m in self.moves if m.scan_id != scan_id]
        if len(kept) == len(self.moves):
            return False
        self.moves = kept
        self._settle()
        return True

    def _settle(self) -> None:
        """The fields as the moves standing decide them, by when they happened:
        the first RECEIVED, the last DELIVERED, and the last RETURNED or LOST."""
        by_time = sorted(self.moves, key=lambda m: m.occurred_at)
        received = [m for m in by_time if m.event == "RECEIVED"]
        delivered = [m for m in by_time if m.event == "DELIVERED"]
        ended = [m for m in by_time if m.event in Ended.__members__]
        self.started_at = received[0].occurred_at if received else None
        self.delivered_at = delivered[-1].occurred_at if delivered else None
        self.delivered_location = delivered[-1].location if delivered else None
        self.ended = Ended(ended[-1].event) if ended else None


def move_of(scan: Scan) -> Move | None:
    """The scan as a move of stock (an EXCEPTION moves it only when LOST),
    or None when it moves none."""
    if scan.event is ScanEvent.EXCEPTION:
        if scan.reason is not ExceptionReason.LOST:
            return None
        name = Ended.LOST.value
    elif scan.event is ScanEvent.RETURNED_TO_SENDER:
        name = Ended.RETURNED.value
    elif scan.event in (ScanEvent.RECEIVED, ScanEvent.DELIVERED):
        name = scan.event.value
    else:
        return None
    return Move(scan.scan_id, name, str(scan.location), scan.occurred_at)


def settled(scans: Iterable[Scan]) -> Carriage:
    """What the standing scans (none retracted) say of a shipment's stock."""
    c = Carriage(tracking_number="", moves=[m for m in map(move_of, scans) if m is not None])
    c._settle()
    return c


class ShipmentPart(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """One shipment's part of a line."""

    tracking_number: str
    quantity: int
    state: str  # IN_TRANSIT, RECEIVED, DELIVERED (received in full), RETURNED, LOST, MISSING
    received: int = 0
    damaged: int = 0
    eta: datetime | None = None
    latest: datetime | None = None


class Risk(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """Why a line is at risk: a shipment carrying it in transit may arrive
    (``latest``) after the line is needed."""

    tracking_number: str
    latest: datetime
    need_by: datetime

    def describe(self) -> str:
        return (f"{self.tracking_number} may arrive by {self.latest.isoformat()}, after "
                f"need_by {self.need_by.isoformat()}")


class LineProgress(msgspec.Struct, kw_only=True):
    sku: str
    need_by: datetime
    cancelled: bool
    ordered: int
    shipped: int
    in_transit: int
    received: int
    damaged: int
    missing: int
    at_risk: bool
    reason: str | None
    shipments: list[ShipmentPart]
    risks: list[Risk] = []  # what ``reason`` says, one by one (none when not at risk)


def line_progress(
    line: OrderLine,
    warehouse: str,
    notices: Mapping[str, tuple[ShippedLine, ...]],
    receipts: Mapping[str, tuple[tuple[CountedLine, ...], datetime]],
    carriages: Mapping[str, Carriage],
) -> LineProgress:
    shipped = in_transit = received = damaged = missing = 0
    parts: list[ShipmentPart] = []
    risks: list[Risk] = []
    for tn, lines in notices.items():
        quantity = sum(s.quantity for s in lines if s.sku == line.sku)
        if not quantity:
            continue
        c = carriages.get(tn) or Carriage(tracking_number=tn)
        part = ShipmentPart(tracking_number=tn, quantity=quantity, state="IN_TRANSIT",
                            eta=c.eta, latest=c.latest)
        if tn in receipts:
            counted = [r for r in receipts[tn][0] if r.sku == line.sku]
            part.state = "RECEIVED"
            part.received = sum(r.quantity for r in counted)
            part.damaged = sum(r.damaged for r in counted)
            missing += max(quantity - part.received, 0)
        elif c.delivered_to(warehouse):
            part.state, part.received = "DELIVERED", quantity
        elif c.ended is not None:
            part.state = c.ended.value
        elif c.delivered_at is not None:
            part.state = "MISSING"  # delivered, but not at the order's warehouse
            missing += quantity
        else:
            in_transit += quantity
            if c.latest is not None and c.latest > line.need_by:
                risks.append(Risk(tracking_number=tn, latest=c.latest, need_by=line.need_by))
        if part.state not in (Ended.RETURNED, Ended.LOST):
            shipped += quantity
        received += part.received
        damaged += part.damaged
        parts.append(part)
    if line.cancelled:
        risks = []  # a cancelled line is needed by no one
    return LineProgress(
        sku=line.sku, need_by=line.need_by, cancelled=line.cancelled, ordered=line.quantity,
        shipped=shipped, in_transit=in_transit, received=received, damaged=damaged,
        missing=missing, at_risk=bool(risks),
        reason="; ".join(r.describe() for r in risks) or None, shipments=parts, risks=risks,
    )


class InboundDay(msgspec.Struct, kw_only=True, gc=False):
    """What is expected to arrive at a warehouse on one day, of one SKU: at
    the shipments' ETAs, and if each arrives at its window's latest."""

    date: date
    sku: str
    at_eta: int
    at_latest: int


def on_its_way(c: Carriage) -> bool:
    """Whether a shipment with no receipt is still to arrive: neither
    delivered (anywhere) nor returned or lost."""
    return c.delivered_at is None and c.ended is None
