"""A route: the legs a shipment is planned to travel, each on one voyage."""

from __future__ import annotations

from datetime import datetime

import msgspec

from tracking.codes import RoutingStatus, TransportMode
from tracking.errors import InvalidInput
from tracking.validation import validating
from tracking.identifiers import Locode

MAX_VOYAGE_LENGTH = 40


def check_voyage(field: str, value: str) -> None:
    """A voyage is 1 to 40 printable characters: it is shown in sentences and
    stored in text columns (a NUL byte once stopped the PostgreSQL views)."""
    if not value or len(value) > MAX_VOYAGE_LENGTH or not value.isprintable():
        raise InvalidInput(field, f"must be 1 to {MAX_VOYAGE_LENGTH} printable characters")


def require_aware(field: str, value: datetime) -> None:
    """Times in this domain always carry their UTC offset."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(field, f"{value.isoformat()} has no UTC offset (RFC 3339 needs one)")


class Leg(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One planned movement on one voyage (a flight, a sailing, a truck run)."""

    voyage: str
    mode: TransportMode
    from_: Locode = msgspec.field(name="from")
    to: Locode
    departs_at: datetime
    arrives_at: datetime

    def __post_init__(self) -> None:
        if not validating():
            return
        check_voyage("voyage", self.voyage)
        require_aware("departs_at", self.departs_at)
        require_aware("arrives_at", self.arrives_at)
        if self.from_ == self.to:
            raise InvalidInput("to", f"the leg starts and ends at {self.to}")
        if self.arrives_at <= self.departs_at:
            raise InvalidInput(
                "arrives_at",
                f"{self.arrives_at.isoformat()} is not after departs_at "
                f"{self.departs_at.isoformat()}",
            )


class Route(msgspec.Struct, frozen=True, gc=False):
    """Legs in travel order; each starts where the one before ends, and not
    before it arrives. May be empty (not routed)."""

    legs: tuple[Leg, ...] = ()

    def __post_init__(self) -> None:
        if not validating():
            return
        for i, (before, after) in enumerate(zip(self.legs, self.legs[1:], strict=False), 1):
            if after.from_ != before.to:
                raise InvalidInput(
                    f"route[{i}].from",
                    f"{after.from_} is not where the leg before it ends ({before.to})",
                )
            if after.departs_at < before.arrives_at:
                raise InvalidInput(
                    f"route[{i}].departs_at",
                    f"{after.departs_at.isoformat()} is before the leg before it "
                    f"arrives ({before.arrives_at.isoformat()})",
                )

    def __bool__(self) -> bool:
        return bool(self.legs)

    def __len__(self) -> int:
        return len(self.legs)

    def routing_status(self, destination: str) -> RoutingStatus:
        if not self.legs:
            return RoutingStatus.NOT_ROUTED
        if self.legs[-1].to != destination:
            return RoutingStatus.MISROUTED
        return RoutingStatus.ROUTED


class RoutePlan(msgspec.Struct, frozen=True, gc=False):
    """A route in force from ``effective_at`` (from the start when None),
    towards ``destination``."""

    destination: Locode
    route: Route
    effective_at: datetime | None = None
