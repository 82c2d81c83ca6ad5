"""The chart of stock arriving at a warehouse, drawn on the server as SVG:
per day, the quantity expected at the shipments' ETAs (solid bars) and if
each arrives at its window's latest (hatched bars, so the two differ by
more than colour), with the same figures in a table beside it for those
who do not see the chart. Dates and numbers are the reader's locale's.

Only geometry and words here: what arrives when is the read model's
(``projections.stock.InboundOut``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta

from babel.dates import format_skeleton
from babel.numbers import format_decimal

from adapters.web.i18n import Language
from projections.stock import InboundOut

SLOT = 18  # the width of one day, in the SVG's units
PLOT_HEIGHT = 160
LEFT, TOP, BOTTOM = 48, 12, 36  # margins for the axis's labels


@dataclass
class Bar:
    x: float
    y: float
    width: float
    height: float


@dataclass
class Day:
    day: date
    x: float  # where its slot starts
    label: str  # the day as the reader writes it
    at_eta: str  # the quantities as the reader writes them
    at_latest: str
    skus: str  # "TSHIRT-M 40, CAP 10" at the ETA
    eta_bar: Bar | None
    latest_bar: Bar | None
    tick: bool  # whether the axis names this day


@dataclass
class Tick:
    y: float
    label: str


@dataclass
class Chart:
    warehouse: str  # its LOCODE
    label: str  # as the merchant names it: "Hamburg DC (DEHAM)", or the LOCODE
    width: float
    height: float
    plot_left: float
    plot_bottom: float
    plot_right: float
    days: list[Day]
    ticks: list[Tick]
    unscheduled: str
    empty: bool
    total_eta: str = ""
    total_latest: str = ""
    arriving: list[Day] = field(default_factory=list)  # the days anything arrives


def _nice(top: int) -> int:
    """A round scale's top at or above ``top`` (1, 2 or 5 times a power of ten)."""
    scale = 1
    while True:
        for step in (1, 2, 5):
            if step * scale >= top:
                return step * scale
        scale *= 10


def inbound_chart(inbound: InboundOut, lang: Language) -> Chart:
    eta: dict[date, int] = defaultdict(int)
    latest: dict[date, int] = defaultdict(int)
    skus: dict[date, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for d in inbound.days:
        eta[d.date] += d.at_eta
        latest[d.date] += d.at_latest
        if d.at_eta:
            skus[d.date][d.sku] += d.at_eta
    n = (inbound.end - inbound.start).days + 1
    top = _nice(max([*eta.values(), *latest.values(), 1]))
    plot_bottom = TOP + PLOT_HEIGHT

    def bar(x: float, quantity: int) -> Bar | None:
        if not quantity:
            return None
        height = PLOT_HEIGHT * quantity / top
        return Bar(x=x, y=plot_bottom - height, width=SLOT / 2 - 1, height=height)

    def number(quantity: int) -> str:
        return format_decimal(quantity, locale=lang.locale)

    days = []
    for i in range(n):
        day = inbound.start + timedelta(days=i)
        x = LEFT + i * SLOT + 1
        days.append(Day(
            day=day, x=x, label=format_skeleton("MMMd", day, locale=lang.locale),
            at_eta=number(eta[day]), at_latest=number(latest[day]),
            skus=", ".join(f"{sku} {number(q)}" for sku, q in sorted(skus[day].items())),
            eta_bar=bar(x, eta[day]), latest_bar=bar(x + SLOT / 2, latest[day]),
            tick=i % 7 == 0))
    ticks = [Tick(y=plot_bottom - PLOT_HEIGHT * share, label=number(int(top * share)))
             for share in (0, 0.5, 1)]
    return Chart(
        warehouse=inbound.warehouse, label=warehouse_label(inbound.warehouse,
                                                           inbound.warehouse_name),
        width=LEFT + n * SLOT + 8,
        height=plot_bottom + BOTTOM, plot_left=LEFT, plot_bottom=plot_bottom,
        plot_right=LEFT + n * SLOT, days=days, ticks=ticks,
        unscheduled=number(inbound.unscheduled), empty=not inbound.days,
        total_eta=number(sum(eta.values())), total_latest=number(sum(latest.values())),
        arriving=[d for d in days if d.eta_bar or d.latest_bar])


def warehouse_label(locode: str, name: str | None) -> str:
    """A warehouse as a page shows it: by its name, with its LOCODE."""
    return f"{name} ({locode})" if name else locode
