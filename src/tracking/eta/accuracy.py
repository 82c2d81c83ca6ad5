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

from collections.abc import Iterable, Sequence
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


ALL = "*"  # the tally of every ETA a shipment was shown, whatever its source


class Tally(msgspec.Struct, kw_only=True, array_like=True, gc=False):
    """One delivered shipment's scored ETAs of one source (or ``ALL``),
    summed: what the accuracy adds up, without the ETAs themselves."""

    source: str
    counts: list[int]  # ETAs, by BUCKETS
    errors: list[float]  # sums of absolute errors, by BUCKETS
    windows: int
    inside: int
    late: bool
    flagged: bool


def tallies(scored: Sequence[Scored]) -> list[Tally]:
    """Of one shipment's scored ETAs: a tally for each source, and ``ALL``."""
    found: dict[str, Tally] = {}
    for s in scored:
        for source in (s.source, ALL):
            t = found.get(source)
            if t is None:
                t = found[source] = Tally(source=source, counts=[0] * 4, errors=[0.0] * 4,
                                          windows=0, inside=0, late=s.late, flagged=False)
            i = BUCKETS.index(bucket(s.hours_out))
            t.counts[i] += 1
            t.errors[i] += abs(s.error_hours)
            if s.inside is not None:
                t.windows += 1
                t.inside += s.inside
            t.flagged = t.flagged or s.flagged_late
    return list(found.values())


def total(found: Iterable[Tally]) -> Accuracy:
    """The accuracy of tallies (each a shipment's, all of one source)."""
    counts, errors = [0] * 4, [0.0] * 4
    n = windows = inside = late = flagged = 0
    for t in found:
        n += 1
        for i in range(4):
            counts[i] += t.counts[i]
            errors[i] += t.errors[i]
        windows += t.windows
        inside += t.inside
        late += t.late
        flagged += t.late and t.flagged
    return _accuracy(n, counts, errors, windows, inside, late, flagged)


class Sum(msgspec.Struct, kw_only=True, gc=False):
    """Tallies of one source (of many shipments) added up, as a view keeps
    them per lane: kept in whole numbers (errors in milli-hours) so that a
    shipment scored again is taken out exactly as it was put in."""

    n: int = 0
    counts: list[int] = msgspec.field(default_factory=lambda: [0] * 4)
    error_mh: list[int] = msgspec.field(default_factory=lambda: [0] * 4)
    windows: int = 0
    inside: int = 0
    late: int = 0
    flagged: int = 0  # late, and flagged late by some ETA

    def add(self, t: Tally, sign: int = 1) -> None:
        """Put a shipment's tally in (sign 1) or take it out (sign -1)."""
        self.n += sign
        for i in range(4):
            self.counts[i] += sign * t.counts[i]
            self.error_mh[i] += sign * round(t.errors[i] * 1000)
        self.windows += sign * t.windows
        self.inside += sign * t.inside
        self.late += sign * t.late
        self.flagged += sign * (t.late and t.flagged)

    def merge(self, other: Sum) -> None:
        self.n += other.n
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.error_mh = [a + b for a, b in zip(self.error_mh, other.error_mh, strict=True)]
        self.windows += other.windows
        self.inside += other.inside
        self.late += other.late
        self.flagged += other.flagged

    def row(self) -> tuple[int, ...]:
        """As the views' columns hold it (SUM_COLUMNS)."""
        return (self.n, *self.counts, *self.error_mh, self.windows, self.inside, self.late,
                self.flagged)

    @classmethod
    def of_row(cls, row: Sequence[int]) -> Sum:
        v = [int(x) for x in row]
        return cls(n=v[0], counts=v[1:5], error_mh=v[5:9], windows=v[9], inside=v[10],
                   late=v[11], flagged=v[12])

    def accuracy(self) -> Accuracy:
        return _accuracy(self.n, self.counts, [e / 1000 for e in self.error_mh], self.windows,
                         self.inside, self.late, self.flagged)


SUM_COLUMNS = ("n", "c0", "c1", "c2", "c3", "e0", "e1", "e2", "e3", "windows", "inside",
               "late", "flagged")


def _accuracy(n: int, counts: list[int], errors: list[float], windows: int, inside: int,
              late: int, flagged: int) -> Accuracy:
    return Accuracy(
        n=n, etas=sum(counts),
        mae_hours={b: round(errors[i] / counts[i], 2) if counts[i] else None
                   for i, b in enumerate(BUCKETS)},
        coverage=round(inside / windows, 4) if windows else None,
        late_recall=round(flagged / late, 4) if late else None)
