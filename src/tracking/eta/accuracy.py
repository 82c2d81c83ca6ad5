"""How good shown ETAs were, once the shipment was delivered: each scored
(error in hours, inside its window, hours before the delivery it was
shown), then summed up as the accuracy endpoint and the backtest print it.

- ``mae_hours``: mean absolute error by how long before the delivery the
  ETA was shown (``>7d``, ``3-7d``, ``1-3d``, ``<1d``); null for a bucket
  with none;
- ``coverage``: the share of scored ETAs whose window held the delivery;
- ``late_recall``: of the deliveries after their ``deliver_by``, the share
  for which some ETA shown before the delivery was after ``deliver_by``
  (the ETA had flagged it late); null when none was late.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

import msgspec

BUCKETS = (">7d", "3-7d", "1-3d", "<1d")


class Scored(msgspec.Struct, frozen=True, kw_only=True, array_like=True, gc=False):
    shipment: str  # whose (a tracking number), to count deliveries
    source: str
    error_hours: float  # eta - delivered (positive: the ETA was late)
    inside: bool | None  # None without a window
    hours_out: float  # how long before the delivery it was shown
    flagged_late: bool  # eta after deliver_by
    late: bool  # delivered after deliver_by


class Accuracy(msgspec.Struct, kw_only=True):
    n: int  # deliveries scored
    etas: int  # ETAs scored
    mae_hours: dict[str, float | None]
    coverage: float | None
    late_recall: float | None


def score(shipment: str, source: str, *, eta: datetime, earliest: datetime | None,
          latest: datetime | None, shown_at: datetime, delivered_at: datetime,
          deliver_by: datetime | None) -> Scored:
    inside = None if earliest is None or latest is None else earliest <= delivered_at <= latest
    return Scored(
        shipment=shipment, source=source,
        error_hours=(eta - delivered_at).total_seconds() / 3600, inside=inside,
        hours_out=(delivered_at - shown_at).total_seconds() / 3600,
        flagged_late=deliver_by is not None and eta > deliver_by,
        late=deliver_by is not None and delivered_at > deliver_by)


def bucket(hours_out: float) -> str:
    if hours_out > 168:
        return ">7d"
    if hours_out > 72:
        return "3-7d"
    if hours_out > 24:
        return "1-3d"
    return "<1d"


def summarize(scored: Iterable[Scored]) -> Accuracy:
    errors: dict[str, list[float]] = {b: [] for b in BUCKETS}
    windows = inside = 0
    shipments: set[str] = set()
    late: set[str] = set()
    flagged: set[str] = set()
    count = 0
    for s in scored:
        count += 1
        shipments.add(s.shipment)
        errors[bucket(s.hours_out)].append(abs(s.error_hours))
        if s.inside is not None:
            windows += 1
            inside += s.inside
        if s.late:
            late.add(s.shipment)
            if s.flagged_late:
                flagged.add(s.shipment)
    return Accuracy(
        n=len(shipments), etas=count,
        mae_hours={b: round(sum(e) / len(e), 2) if e else None for b, e in errors.items()},
        coverage=round(inside / windows, 4) if windows else None,
        late_recall=round(len(flagged) / len(late), 4) if late else None)


def mean_absolute_error(scored: Iterable[Scored]) -> float:
    errors = [abs(s.error_hours) for s in scored]
    return sum(errors) / len(errors) if errors else 0.0
