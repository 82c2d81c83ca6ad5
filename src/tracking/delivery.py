"""Delivery: everything a reader sees about a shipment's progress, derived
from its route plans and its scans, never stored and never sent in.

The derivation is a fold over one timeline: scans in ``occurred_at`` order
(not arrival order) and re-routes at the time they took effect. Each scan is
judged against the route in force when it happened; a re-route places the
shipment on the new route from where it is. Once a terminal status
(DELIVERED, RETURNED) is reached, later scans stay in the history but change
nothing; and what is recorded after the end, even dated before it, is not
derived from (``Shipment``), so a late-arriving older scan can never undo a
delivery.

The public status follows the lifecycle INFO_RECEIVED -> IN_TRANSIT -> the
last mile (OUT_FOR_DELIVERY, DELIVERY_ATTEMPTED, READY_FOR_PICKUP) ->
DELIVERED, and never goes back along it, except where the parcel did:

- Interruptions: IN_CUSTOMS and CUSTOMS_HOLD (customs has the goods) and
  EXCEPTION may come at any stage; when they end, the status is the stage
  the parcel is in, and never INFO_RECEIVED again: customs clearance is a
  transit milestone (AfterShip's InTransit_005), so a shipment released
  before any scan reached us is IN_TRANSIT.
- A return (RETURNED_TO_SENDER, or customs returning the goods) may begin
  at any stage: RETURNING, then RETURNED; it never goes back to the
  outbound stages.
- Back from the last mile: a scan in the network dated after the last-mile
  one (a depot, after a failed attempt; a hand-over) shows IN_TRANSIT again,
  because that is where the parcel is.
- An end (DELIVERED or RETURNED) is reached from any status, even from
  RETURNING (a delivery dated before the return began ended it first), and
  is never left; a carrier's retraction of the scan that ended it is a
  correction of the record, not a move.
- A re-route changes where the parcel goes and what is expected, never the
  status itself.

``tests/unit/test_status_lifecycle.py`` checks this over random histories.
"""

from __future__ import annotations

from datetime import datetime

import msgspec

from tracking.codes import RoutingStatus, ScanEvent, Status, TransportStatus
from tracking.customs_mark import CustomsMark
from tracking.identifiers import Locode
from tracking.scan import Scan


class Expected(msgspec.Struct, frozen=True, gc=False):
    """The next scan the route expects (a handling activity)."""

    event: ScanEvent
    location: Locode
    voyage: str | None = None


class Delivery(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """What is derived, as in the DDD sample's ``Delivery``.

    ``routing_status`` and ``misdirected`` answer two different questions
    and are independent, as there: ``routing_status`` judges the route
    against the destination (MISROUTED: its last leg no longer ends there,
    say after a destination change), ``misdirected`` judges the latest scans
    against the route (a scan where the route does not expect the parcel).
    ROUTED beside ``misdirected: true`` is a good route the parcel has
    strayed from (unloaded in Tokyo, a port the route never calls at):
    re-route it from where it is. MISROUTED beside ``misdirected: false`` is
    a parcel exactly where its route expects it, on a route that no longer
    goes where it must.

    ``eta`` is the single most likely time of arrival: once delivered, the
    time it was (``delivered_at``), never the plan; null when not routed or
    misdirected (the contract's rule, delivered or not) and on a return.
    """

    status: Status
    transport_status: TransportStatus
    routing_status: RoutingStatus
    destination: Locode
    last_location: Locode | None
    current_voyage: str | None
    misdirected: bool
    next_expected: Expected | None
    eta: datetime | None
    last_scan: Scan | None
    # The latest state of each customs entry, as of the derivation.
    customs: tuple[CustomsMark, ...] = ()
    # When it was delivered to the recipient (a return delivered back is not).
    delivered_at: datetime | None = None

