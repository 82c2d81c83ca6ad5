"""When each recorded event of a shipment happened, as its history lists it.

The recording time (``timestamp``) is when we learnt of it; an event that
carries the time it happened in the world says so here, once, for every
reader (the HTTP history, and whatever lists events next). Each event class
is to say this itself (an ``occurred_at`` property); until then this is the
one place that knows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tracking.shipment import Shipment


def occurred_at(event: Any) -> datetime:
    """The time ``event`` happened: the scan's, the re-route's effective
    time, the customs mark's, the carrier's, the retraction's declaration;
    for the others (booking, a stall, a subscription) when it was recorded."""
    if isinstance(event, Shipment.ScanRecorded):
        return event.scan.occurred_at
    if isinstance(event, Shipment.Rerouted):
        return event.effective_at
    if isinstance(event, Shipment.CustomsUpdated):
        return event.mark.occurred_at
    if isinstance(event, Shipment.CarrierEventNoted):
        return event.occurred_at
    if isinstance(event, Shipment.ScanRetracted):
        return event.declared_at
    recorded: datetime = event.timestamp
    return recorded
