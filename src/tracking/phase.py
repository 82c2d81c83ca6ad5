"""Where a shipment is along its route, as the derivation of its delivery
tracks it (``tracking.derivation``): finer than its public status."""

from enum import Enum, auto


class Phase(Enum):
    NONE = auto()  # nothing scanned yet
    RECEIVED = auto()  # accepted into the network, before the first leg
    ONBOARD = auto()  # loaded or departed on a leg
    ARRIVED = auto()  # arrived at a leg's end, not yet unloaded
    AT_FACILITY = auto()  # unloaded after a leg (or placed by a re-route)
    LAST_MILE = auto()  # out for delivery, attempted, ready for pickup, delivered

