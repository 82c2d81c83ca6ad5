"""What every ingress (HTTP POST /scans, MQTT, the carriers' formats) does
with a batch: the items that could be parsed are recorded in one call, the
ones refused at the edge hold back none of them, and each item gets its
outcome, in the order it came."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple, TypeVar

from tracking.errors import InvalidInput
from tracking.outcomes import ScanOutcome, ScanResult

U = TypeVar("U")


class Refused(NamedTuple):
    """An item of a batch that cannot be right, refused at the edge without
    holding back the others: its key and number as sent, and what is wrong."""

    key: str
    tracking_number: str
    error: InvalidInput

    def outcome(self) -> ScanOutcome:
        return ScanOutcome(scan_id=self.key, tracking_number=self.tracking_number,
                           result=ScanResult.REJECTED, field=self.error.field,
                           reason=self.error.reason)


def record_valid(
    record: Callable[[list[U]], Sequence[ScanOutcome]], items: Sequence[U | Refused]
) -> list[ScanOutcome]:
    """``record`` the items that are not Refused, in one call; every item's
    outcome in order (a Refused one rejected, naming its field)."""
    valid = [i for i in items if not isinstance(i, Refused)]
    recorded = iter(record(valid) if valid else ())
    return [i.outcome() if isinstance(i, Refused) else next(recorded) for i in items]
