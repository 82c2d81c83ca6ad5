"""Lead times measured from our own deliveries: their mean and spread, the
safety stock and reorder point they imply, and which lanes and modes reach
a place in time.

Safety stock with variable demand and lead time (both independent, normal):
SS = z·√(μL·σD² + μD²·σL²), reorder point ROP = μD·μL + SS, where μD and σD
are the daily demand's mean and standard deviation, μL and σL the lead
time's in days, and z the standard normal quantile of the service level.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from datetime import datetime, timedelta

import msgspec

from tracking.errors import InvalidInput

DAY = timedelta(days=1)


class Spread(msgspec.Struct, kw_only=True):
    """Days: ``sd`` is the sample standard deviation (None below two)."""

    n: int
    mean: float | None
    sd: float | None


def spread(days: Sequence[float]) -> Spread:
    if not days:
        return Spread(n=0, mean=None, sd=None)
    return Spread(n=len(days), mean=round(statistics.fmean(days), 3),
                  sd=round(statistics.stdev(days), 3) if len(days) > 1 else None)


def in_days(start: datetime, end: datetime) -> float:
    return (end - start) / DAY


def percentile(values: Sequence[float], share: float) -> float:
    """Linear interpolation between the closest ranks (numpy's default)."""
    ordered = sorted(values)
    if not ordered:
        raise ValueError("no values")
    k = (len(ordered) - 1) * share
    low, high = math.floor(k), math.ceil(k)
    return ordered[low] + (ordered[high] - ordered[low]) * (k - low)


class ReorderPoint(msgspec.Struct, kw_only=True):
    z: float
    lead_time: Spread
    safety_stock: float
    reorder_point: float


def reorder_point(*, daily_demand: float, demand_sd: float, service_level: float,
                  lead_times: Sequence[float]) -> ReorderPoint | None:
    """None without a measured lead time; one delivery gives σL = 0."""
    if not math.isfinite(daily_demand) or daily_demand < 0:
        raise InvalidInput("daily_demand", "must be a number of units a day, 0 or more")
    if not math.isfinite(demand_sd) or demand_sd < 0:
        raise InvalidInput("demand_sd", "must be 0 or more")
    if not math.isfinite(service_level) or not 0.5 <= service_level < 1:
        raise InvalidInput("service_level", "must be a share from 0.5 to below 1, such as 0.95")
    if not lead_times:
        return None
    z = statistics.NormalDist().inv_cdf(service_level)
    mu_l = statistics.fmean(lead_times)
    sd_l = statistics.stdev(lead_times) if len(lead_times) > 1 else 0.0
    ss = z * math.sqrt(mu_l * demand_sd**2 + daily_demand**2 * sd_l**2)
    return ReorderPoint(z=round(z, 4), lead_time=spread(lead_times),
                        safety_stock=round(ss, 3),
                        reorder_point=round(daily_demand * mu_l + ss, 3))


# Slowest first: a route's mode is the slowest it uses (it sets the pace).
MODES = ("sea", "rail", "road", "air")


def main_mode(modes: Sequence[str]) -> str | None:
    return next((m for m in MODES if m in modes), None)


class LaneOption(msgspec.Struct, kw_only=True):
    origin: str
    destination: str
    mode: str | None
    carrier: str
    match: str  # "place": the same two places; "country": the same two countries
    n: int
    median_days: float
    p90_days: float
    arrives_by_need_by: bool | None  # None without a need_by


def lane_options(
    deliveries: Sequence[tuple[str, str, str | None, str, float]], *, origin: str,
    destination: str, now: datetime, need_by: datetime | None,
) -> list[LaneOption]:
    """(origin, destination, mode, carrier, days door to door) of delivered
    shipments, grouped by lane, mode and carrier, fastest at 90% first."""
    groups: dict[tuple[str, str, str | None, str], list[float]] = {}
    for o, d, mode, carrier, days in deliveries:
        groups.setdefault((o, d, mode, carrier), []).append(days)
    options = []
    for (o, d, mode, carrier), days in groups.items():
        p90 = percentile(days, 0.9)
        options.append(LaneOption(
            origin=o, destination=d, mode=mode, carrier=carrier,
            match="place" if (o, d) == (origin, destination) else "country",
            n=len(days), median_days=round(statistics.median(days), 3),
            p90_days=round(p90, 3),
            arrives_by_need_by=None if need_by is None else now + p90 * DAY <= need_by,
        ))
    options.sort(key=lambda x: (x.match != "place", x.p90_days, x.carrier))
    return options
