"""The statuses a customs entry goes through, and which moves between them
make sense (``ALLOWED_FROM``); ``InvalidTransition`` refuses the others."""

from __future__ import annotations

from enum import StrEnum

from tracking.errors import TrackingError


class CustomsStatus(StrEnum):
    DECLARED = "DECLARED"
    LODGED = "LODGED"
    ACCEPTED = "ACCEPTED"
    HELD = "HELD"
    DUTIES_ASSESSED = "DUTIES_ASSESSED"
    DUTIES_PAID = "DUTIES_PAID"
    RELEASED = "RELEASED"
    REJECTED = "REJECTED"
    SEIZED = "SEIZED"
    RETURNED = "RETURNED"

    @property
    def is_final(self) -> bool:
        return self in _FINAL

    @property
    def with_customs(self) -> bool:
        """Lodged and not yet released or finished: the goods are in customs' hands."""
        return self not in _FINAL and self is not CustomsStatus.DECLARED


_FINAL = frozenset({CustomsStatus.RELEASED, CustomsStatus.SEIZED, CustomsStatus.RETURNED})


S = CustomsStatus
# For each status an entry can move to, the statuses it can move from.
ALLOWED_FROM: dict[CustomsStatus, frozenset[CustomsStatus]] = {
    S.LODGED: frozenset({S.DECLARED, S.REJECTED}),
    S.ACCEPTED: frozenset({S.LODGED, S.HELD}),
    S.HELD: frozenset({S.LODGED, S.ACCEPTED, S.HELD, S.DUTIES_ASSESSED, S.DUTIES_PAID}),
    S.DUTIES_ASSESSED: frozenset({S.LODGED, S.ACCEPTED, S.HELD, S.DUTIES_ASSESSED}),
    S.DUTIES_PAID: frozenset({S.DUTIES_ASSESSED, S.HELD}),
    S.RELEASED: frozenset({S.LODGED, S.ACCEPTED, S.HELD, S.DUTIES_ASSESSED, S.DUTIES_PAID}),
    S.REJECTED: frozenset({S.LODGED, S.ACCEPTED, S.HELD}),
    S.SEIZED: frozenset({S.LODGED, S.ACCEPTED, S.HELD, S.DUTIES_ASSESSED, S.DUTIES_PAID, S.REJECTED}),
    S.RETURNED: frozenset({S.LODGED, S.ACCEPTED, S.HELD, S.DUTIES_ASSESSED, S.DUTIES_PAID, S.REJECTED}),
}
del S


class InvalidTransition(TrackingError):
    """A customs event that the entry's state does not allow (released before
    it was lodged, duties paid twice). Nothing was recorded."""
