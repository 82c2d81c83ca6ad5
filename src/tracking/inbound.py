"""Stock on its way, by day: what one shipment adds to the inbound of the
warehouses its cargo is for (``tracking.cargo``), at its ETA and at the
latest it may arrive, so that a warehouse's inbound can be kept summed per
account, warehouse, SKU and day, and read without visiting each shipment.

The rules are those of the orders' view (``tracking.stock``): a shipment's
cargo is inbound while it is on its way (neither delivered anywhere nor
returned or lost, as its standing scans say); it counts on its ETA's day
and on its latest's (the window's latest, else the ETA, else its
deliver-by); with no ETA it is unscheduled (``UNSCHEDULED`` for a day).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime

from tracking.cargo import Carried
from tracking.scan import Scan
from tracking.stock import on_its_way, settled

UNSCHEDULED = ""  # the day of what has no ETA yet
# (account, warehouse, sku, day as YYYY-MM-DD) -> (quantity at the ETA, at the latest)
Key = tuple[str, str, str, str]
Sums = dict[Key, tuple[int, int]]


def inbound_of(account: str, cargo: Mapping[str, Carried], scans: Iterable[Scan],
               eta: datetime | None, latest: datetime | None) -> Sums:
    """What the shipment adds to its warehouses' inbound, per key."""
    if not cargo or not on_its_way(settled(scans)):
        return {}
    on_eta = eta.date().isoformat() if eta is not None else UNSCHEDULED
    on_latest = (latest or eta).date().isoformat() if eta is not None else None
    sums: dict[Key, tuple[int, int]] = {}
    for lines in cargo.values():
        for line in lines:
            key = (account, line.warehouse, line.sku, on_eta)
            was = sums.get(key, (0, 0))
            sums[key] = (was[0] + line.quantity, was[1])
            if on_latest is not None:
                key = (account, line.warehouse, line.sku, on_latest)
                was = sums.get(key, (0, 0))
                sums[key] = (was[0], was[1] + line.quantity)
    return sums


def difference(before: Sums, after: Sums) -> Sums:
    """What to add to the sums when a shipment's part goes from ``before``
    to ``after`` (keys whose part did not change left out)."""
    found: Sums = {}
    for key in before.keys() | after.keys():
        b, a = before.get(key, (0, 0)), after.get(key, (0, 0))
        if a != b:
            found[key] = (a[0] - b[0], a[1] - b[1])
    return found


def add(into: dict[Key, tuple[int, int]], changes: Sums) -> None:
    """Add ``changes`` to ``into``, dropping keys that come to nothing."""
    for key, (e, late) in changes.items():
        was = into.get(key, (0, 0))
        now = (was[0] + e, was[1] + late)
        if now == (0, 0):
            into.pop(key, None)
        else:
            into[key] = now
