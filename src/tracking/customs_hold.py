"""Why customs holds an entry (``HoldReason``), and the words kept with
what customs did: a hold's code, and the text as customs said it."""

from __future__ import annotations

from enum import StrEnum

from tracking.customs_status import CustomsStatus
from tracking.errors import InvalidInput
from tracking.limits import MAX_FREE_TEXT

MAX_DETAIL = MAX_FREE_TEXT  # what customs said of an entry, kept as said


class HoldReason(StrEnum):
    DOCUMENTS = "DOCUMENTS"
    INSPECTION = "INSPECTION"
    PAYMENT = "PAYMENT"
    PROHIBITED_GOODS = "PROHIBITED_GOODS"
    OTHER = "OTHER"

    @classmethod
    def parse(cls, text: str) -> HoldReason:
        """The code a customs system's reason names, whatever its case;
        OTHER for any other words (which the hold keeps as its text)."""
        try:
            return cls(text.strip().upper())
        except ValueError:
            return cls.OTHER


def hold_and_text(
    status: CustomsStatus, reason: str | None, detail: str | None
) -> tuple[HoldReason | None, str | None]:
    """The hold reason (for a hold) and the text kept with the event.

    A hold is never refused for its wording: customs systems say why in
    their own words ("inspection", "Documentary check required"). A known
    code matches whatever its case; any other text is an OTHER hold whose
    text is kept as said, before the detail."""
    hold = None
    texts = [("reason", reason), ("detail", detail)]
    if status is CustomsStatus.HELD:
        if reason is None or not reason.strip():
            raise InvalidInput("reason", f"a hold needs a reason: one of {', '.join(HoldReason)}, "
                               "or the customs system's own words")
        hold = HoldReason.parse(reason)
        if hold is not HoldReason.OTHER or reason.strip().upper() == HoldReason.OTHER:
            texts = [("detail", detail)]  # the code says it all
    kept = []
    for field, text in texts:
        if text is None:
            continue
        flat = " ".join(text.split())  # a line break is layout, not wording
        if not flat or len(flat) > MAX_DETAIL or not flat.isprintable():
            raise InvalidInput(field, f"must be 1 to {MAX_DETAIL} printable characters")
        kept.append(flat)
    return hold, ": ".join(kept) or None
