"""Why a shipment's status is what it is: for each derived field and each
open exception, the rule that produced it and the events that decided it,
cited by their version in the shipment's history.

The rules and their inputs are recorded by the derivation itself
(``tracking.derivation``: each value's ``Reason`` is set where the value is);
this module only replays the history and turns what the derivation read
(a scan id, the i-th route plan, a customs report, the i-th carrier
estimate) into the versions of the events that recorded it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import msgspec

from tracking.delivery import Delivery
from tracking.reasons import Cause, Reason
from tracking.exceptions import _CUSTOMS_KINDS, REASON_KINDS, ExceptionKind, open_exceptions
from tracking.shipment import Shipment

FIELDS = ("status", "transport_status", "routing_status", "last_location", "next_expected",
          "eta", "misdirected")


class Cited(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One event of the history a value was decided by; for a carrier's
    event, the code mapping that translated it (``Reported.mapping``)."""

    version: int
    type: str
    occurred_at: datetime
    mapping: str | None = None


class Explained(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One derived field (or, with ``field`` "exception", one open exception
    of the kind ``value``) and why."""

    field: str
    value: Any
    rule: str
    because: tuple[Cited, ...]
    details: str | None = None


class Explanation(msgspec.Struct, frozen=True, kw_only=True):
    tracking_number: str
    version: int  # the last version of the history explained
    fields: tuple[Explained, ...]


def explain(events: Iterable[Any]) -> Explanation:
    """The explanation of the shipment these events (its history, in recorded
    order, perhaps cut at a time for ``as_of``) make. Raises ValueError when
    they do not make a booked shipment."""
    shipment: Any = None
    index: dict[Cause, Cited] = {}
    plans = estimates = 0
    for event in events:
        shipment = event.mutate(shipment)
        for cause in _causes_recorded_by(event, plans, estimates):
            index[cause] = _cited(event)
        plans += isinstance(event, (Shipment.Booked, Shipment.Rerouted))
        estimates += isinstance(event, Shipment.EstimateReceived)
    if not isinstance(shipment, Shipment) or not shipment.is_booked:
        raise ValueError("only a booked shipment's status is derived")
    delivery = shipment.delivery()
    assert shipment.derivation is not None
    reasons = shipment.derivation.explain(shipment.estimates)

    def cite(reason: Reason) -> tuple[Cited, ...]:
        found = {index[c].version: index[c] for c in reason.because if c in index}
        return tuple(found[v] for v in sorted(found))

    fields = [
        Explained(field=name, value=getattr(delivery, name), rule=reasons[name].rule,
                  because=cite(reasons[name]))
        for name in FIELDS
    ]
    for kind, details in open_exceptions(shipment, delivery).items():
        rule, because = _exception_reason(kind, shipment, delivery, reasons, index)
        fields.append(Explained(field="exception", value=kind, rule=rule,
                                because=cite(Reason(rule, because)), details=details))
    return Explanation(tracking_number=str(shipment.tracking_number), version=shipment.version,
                       fields=tuple(fields))


def _causes_recorded_by(event: Any, plans: int, estimates: int) -> list[Cause]:
    if isinstance(event, Shipment.ScanRecorded):
        return [("scan", event.scan.scan_id)]
    if isinstance(event, (Shipment.Booked, Shipment.Rerouted)):
        return [("plan", plans)]
    if isinstance(event, Shipment.CustomsUpdated):
        return [("customs", (event.mark.entry_id, event.mark.entry_version))]
    if isinstance(event, Shipment.EstimateReceived):
        return [("estimate", estimates)]
    if isinstance(event, Shipment.StallDetected):
        return [("stall", None)]
    return []


def _cited(event: Any) -> Cited:
    reported = getattr(getattr(event, "scan", event), "reported", None)
    return Cited(version=event.originator_version, type=type(event).__name__,
                 occurred_at=event.occurred_at,
                 mapping=reported.mapping if reported is not None else None)


def _exception_reason(
    kind: ExceptionKind, shipment: Shipment, delivery: Delivery, reasons: dict[str, Reason],
    index: dict[Cause, Cited],
) -> tuple[str, tuple[Cause, ...]]:
    """The rule of ``tracking.exceptions.open_exceptions`` that opened it, and
    the causes of the fields that rule read."""
    if kind is ExceptionKind.MISDIRECTED:
        return "misdirected", reasons["misdirected"].because
    if kind is ExceptionKind.DELIVERY_ATTEMPTED or kind in REASON_KINDS.values():
        return f"status {delivery.status.value}", reasons["status"].because
    if kind is ExceptionKind.LATE:
        return "ETA after the promised date", (("plan", 0), *reasons["eta"].because)
    if kind is ExceptionKind.STALLED:
        return "no scan for longer than the threshold", (("stall", None),)
    # The customs kinds: the entries in that state.
    marks = tuple(("customs", (m.entry_id, m.entry_version)) for m in delivery.customs
                  if _CUSTOMS_KINDS.get(m.status) is kind)
    return f"customs entry {kind.value.removeprefix('CUSTOMS_').lower()}", marks
