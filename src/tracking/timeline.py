"""A shipment's timeline: its scans and customs marks, each kept in
``occurred_at`` order (equal times in recorded order), and which of them
count. What was recorded after the shipment had ended is kept, by its key,
in ``after_end``: in the history, not derived from (``tracking.shipment``).
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Set
from datetime import datetime
from typing import TypeVar

from tracking.codes import ScanEvent
from tracking.customs_mark import CustomsMark
from tracking.scan import Scan

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


def _occurred_at(item: Scan | CustomsMark) -> datetime:
    return item.occurred_at
