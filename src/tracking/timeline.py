"""A shipment's timeline: its scans and customs marks, each kept in
``occurred_at`` order (equal times in recorded order), and which of them
count. What was recorded after the shipment had ended is kept, by its key,
in ``after_end``: in the history, not derived from (``tracking.shipment``).
``Timeline``, mixed into the Shipment, is what its scans and customs marks
apply and which of them its delivery is derived from.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Set
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from tracking.codes import ScanEvent
from tracking.customs_mark import CustomsMark
from tracking.scan import Scan

if TYPE_CHECKING:
    from tracking.shipment import Shipment

Dated = TypeVar("Dated", Scan, CustomsMark)


def insert(items: list[Dated], item: Dated) -> int:
    """Put ``item`` among ``items`` by ``occurred_at``, after those at the
    same time; the index it is at."""
    at = bisect.bisect_right(items, item.occurred_at, key=_occurred_at)
    items.insert(at, item)
    return at


def mark_key(mark: CustomsMark) -> str:
    """A customs mark's key in ``after_end`` (a scan's is its scan_id)."""
    return f"customs:{mark.entry_id}/{mark.entry_version}"


def counted_scans(scans: Iterable[Scan], after_end: Set[str]) -> list[Scan]:
    return [scan for scan in scans if scan.scan_id not in after_end]


def counted_marks(marks: Iterable[CustomsMark], after_end: Set[str]) -> list[CustomsMark]:
    return [m for m in marks if mark_key(m) not in after_end]


def delivered(scans: Iterable[Scan], after_end: Set[str]) -> bool:
    """Whether a delivery scan counts: the derivation ends at the first one,
    whatever else was said."""
    return any(scan.event is ScanEvent.DELIVERED and scan.scan_id not in after_end
               for scan in scans)


class Timeline:
    """Mixed into ``Shipment``: every method runs on a Shipment."""

    def apply_scan(self: Shipment, scan: Scan, recorded_at: datetime) -> None:
        """``ScanRecorded``: the scan in its place; a scan that came late
        (earlier than the last) makes the delivery derive again from the start."""
        self.scan_ids.add(scan.scan_id)
        if scan.new_tracking_number is not None:
            self.aliases.add(scan.new_tracking_number)
        if self.has_ended():
            self.after_end.add(scan.scan_id)
        if insert(self.scans, scan) < len(self.scans) - 1:
            self.derivation = None
        self.stalled_since = None
        self.last_activity_at = max(self.last_activity_at, recorded_at)

    def apply_mark(self: Shipment, mark: CustomsMark, recorded_at: datetime) -> None:
        """``CustomsUpdated``: the mark in its place."""
        if self.has_ended():
            self.after_end.add(mark_key(mark))
        insert(self.customs, mark)
        self.derivation = None
        self.last_activity_at = max(self.last_activity_at, recorded_at)

    def counted_scans(self: Shipment) -> list[Scan]:
        """The scans its delivery is derived from: all but those recorded
        after it had ended (in occurred_at order)."""
        return counted_scans(self.scans, self.after_end)

    def counted_customs(self: Shipment) -> list[CustomsMark]:
        """The customs marks its delivery is derived from, likewise."""
        return counted_marks(self.customs, self.after_end)

    def has_ended(self: Shipment) -> bool:
        """Whether what is derived has reached DELIVERED or RETURNED: a
        booked shipment with a delivery scan counted (the derivation ends at
        the first one, whatever else was said)."""
        return self.is_booked and delivered(self.scans, self.after_end)


def _occurred_at(item: Scan | CustomsMark) -> datetime:
    return item.occurred_at
