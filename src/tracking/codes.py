"""The codes of the public API (docs/API.md): what a scanner reports, and
the statuses that are derived from it (never sent in)."""

from __future__ import annotations

from enum import StrEnum


class ScanEvent(StrEnum):
    """What a scanner or carrier saw happen to a parcel."""

    RECEIVED = "RECEIVED"
    LOADED = "LOADED"
    DEPARTED = "DEPARTED"
    ARRIVED = "ARRIVED"
    UNLOADED = "UNLOADED"
    HANDED_OVER = "HANDED_OVER"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERY_ATTEMPTED = "DELIVERY_ATTEMPTED"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    DELIVERED = "DELIVERED"
    RETURNED_TO_SENDER = "RETURNED_TO_SENDER"
    EXCEPTION = "EXCEPTION"


class ExceptionReason(StrEnum):
    DAMAGED = "DAMAGED"
    LOST = "LOST"
    ADDRESS_PROBLEM = "ADDRESS_PROBLEM"
    REFUSED = "REFUSED"
    WEATHER = "WEATHER"
    OTHER = "OTHER"


class Status(StrEnum):
    """The public status a customer sees."""

    INFO_RECEIVED = "INFO_RECEIVED"
    IN_TRANSIT = "IN_TRANSIT"
    IN_CUSTOMS = "IN_CUSTOMS"
    CUSTOMS_HOLD = "CUSTOMS_HOLD"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERY_ATTEMPTED = "DELIVERY_ATTEMPTED"
    READY_FOR_PICKUP = "READY_FOR_PICKUP"
    DELIVERED = "DELIVERED"
    EXCEPTION = "EXCEPTION"
    RETURNING = "RETURNING"
    RETURNED = "RETURNED"

    @property
    def is_terminal(self) -> bool:
        return self in (Status.DELIVERED, Status.RETURNED)


class TransportStatus(StrEnum):
    NOT_RECEIVED = "NOT_RECEIVED"
    AT_FACILITY = "AT_FACILITY"
    ONBOARD = "ONBOARD"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    UNKNOWN = "UNKNOWN"


class RoutingStatus(StrEnum):
    NOT_ROUTED = "NOT_ROUTED"
    ROUTED = "ROUTED"
    MISROUTED = "MISROUTED"


class TransportMode(StrEnum):
    AIR = "air"
    SEA = "sea"
    RAIL = "rail"
    ROAD = "road"


class SourceKind(StrEnum):
    """Who told us: the ``source.kind`` of every recorded event."""

    SCANNER = "scanner"
    CARRIER = "carrier"
    AGENT = "agent"
    SYSTEM = "system"
