"""What a shipment knows of one of its customs entries (``CustomsMark``)."""

from __future__ import annotations

import uuid
from datetime import datetime

import msgspec

from tracking.customs_hold import HoldReason
from tracking.customs_status import CustomsStatus
from tracking.identifiers import CountryCode


class CustomsMark(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True, gc=False):
    """What a shipment knows of one of its customs entries after an event:
    enough to derive its status and exceptions without loading the entry."""

    entry_id: uuid.UUID
    # Reports may be dated out of order; the entry's latest is the one in force.
    entry_version: int
    country: CountryCode
    status: CustomsStatus
    occurred_at: datetime
    hold_reason: HoldReason | None = None
    detail: str | None = None

    def describe(self) -> str:
        what = {
            CustomsStatus.DECLARED: "declared to", CustomsStatus.LODGED: "lodged with",
            CustomsStatus.ACCEPTED: "accepted by", CustomsStatus.HELD: "held by",
            CustomsStatus.DUTIES_ASSESSED: "duties assessed by",
            CustomsStatus.DUTIES_PAID: "duties paid to", CustomsStatus.RELEASED: "released by",
            CustomsStatus.REJECTED: "declaration rejected by",
            CustomsStatus.SEIZED: "seized by", CustomsStatus.RETURNED: "returned by",
        }[self.status]
        why = ", ".join(str(t) for t in (self.hold_reason, self.detail) if t)
        return f"{what} {self.country} customs" + (f" ({why})" if why else "")
