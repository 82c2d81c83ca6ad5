"""Purchase orders benchmark: the inbound query over 10,000 open orders with
50,000 lines and their shipments, and what the purchase orders read model
adds to the cost of projecting a scan.

It seeds (in a fresh SQLite file by default) shipments booked from Asian
ports to five warehouses on one sea leg each, orders of five lines each,
and a notice per order (its shipment carries all five lines), then catches
the views up and measures:

  (1) `StockReader.inbound` for a warehouse (and for a warehouse and one SKU),
      p50 and p99 over `--queries` calls, against the bar (50 ms, issue 21),
      beside the floor measured in the same run: the view's own query of
      the warehouse's inbound sums per SKU and day (``projections.inbound``),
      without making the answer of them;
  (2) the cost per scan of projecting a batch of scans (LOADED on every
      shipment, DELIVERED on a tenth) into each read model's in-memory view,
      the log read and decoded once beforehand: what purchase orders add to
      the others' (bar: under 10%): the purchase orders projection, and what
      keeping the inbound sums adds to the shipments projection (measured
      in the same round with the shipments projection keeping none).

Figures are medians over rounds; nothing is asserted.

Run:
    .venv/bin/python bench/purchase_orders.py            # 10,000 orders, ~2-4 min
    .venv/bin/python bench/purchase_orders.py --quick    # 1,000 orders, < 30 s
    .venv/bin/python bench/purchase_orders.py --database postgresql://...?schema=bench_po
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from collections.abc import Iterator
from typing import Any

from adapters.composition import build_service, build_view_store
from adapters.settings import Settings
from projections.purchase_orders import READ_MODEL as PURCHASE_ORDERS
from projections import inbound as inbound_sums
from projections.readmodel import ReadModel, Views
from projections.registry import READ_MODELS
from projections.runner import ReadModelRunner
from projections.shipments import READ_MODEL as SHIPMENTS
from projections.stock import StockReader
from tracking.application import ShipmentService
from tracking.booking import Booking
from tracking.codes import ScanEvent, SourceKind, TransportMode
from tracking.identifiers import Locode, TrackingNumber
from tracking.order_line import OrderLine, ShippedLine
from tracking.route import Leg, Route
from tracking.scan import Scan, Source

INBOUND_BAR_MS = 50.0
ADDED_BAR = 0.10
WITHOUT_SUMS = "shipments, no inbound sums"
WAREHOUSES = ("DEHAM", "NLRTM", "USNYC", "GBFXT", "SESTO")
ORIGINS = ("CNSHA", "CNSZX", "HKHKG", "VNSGN", "INBOM")
NOW = datetime(2026, 3, 1, tzinfo=UTC)
SOURCE = Source(SourceKind.AGENT, "bench")


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def seed(service: ShipmentService, orders_n: int, lines_per: int,
         skus: int) -> list[TrackingNumber]:
    rng = random.Random(21)
    orders = service.purchase_orders
    tns = []
    started = time.perf_counter()
    for i in range(orders_n):
        warehouse = WAREHOUSES[i % len(WAREHOUSES)]
        origin = ORIGINS[rng.randrange(len(ORIGINS))]
        tn = TrackingNumber(f"BENCH{i:08d}")
        departs = NOW + timedelta(days=rng.uniform(0, 10))
        arrives = departs + timedelta(days=rng.uniform(18, 45))
        service.book(tn, Booking(carrier="maersk", origin=Locode(origin),  # type: ignore[attr-defined]
                                 destination=Locode(warehouse)),
                     Route((Leg(voyage=f"V{i % 97}", mode=TransportMode.SEA, from_=Locode(origin),
                                to=Locode(warehouse), departs_at=departs, arrives_at=arrives),)),
                     SOURCE)
        chosen = rng.sample(range(skus), lines_per)
        need_by = NOW + timedelta(days=rng.uniform(20, 60))
        orders.place(account="default", po_number=f"PO-{i}", supplier=f"S{i % 50}",
                     warehouse=Locode(warehouse), source=SOURCE,
                     lines=[OrderLine(sku=f"SKU-{s}", quantity=rng.randint(10, 500),
                                      need_by=need_by) for s in chosen])
        orders.notify_shipment("default", f"PO-{i}", tn,
                               [ShippedLine(sku=f"SKU-{s}", quantity=50) for s in chosen], SOURCE)
        tns.append(tn)
        if (i + 1) % 1000 == 0:
            log(f"  seeded {i + 1} orders ({time.perf_counter() - started:.0f} s)")
    return tns


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(share * (len(ordered) - 1))))]


def timed(call: object, n: int) -> list[float]:
    spent = []
    for _ in range(n):
        t = time.perf_counter()
        call()  # type: ignore[operator]
        spent.append((time.perf_counter() - t) * 1000)
    return spent


@contextlib.contextmanager
def no_inbound_sums() -> Iterator[None]:
    """The shipments projection as it was before it kept the inbound sums:
    each shipment's part taken as nothing (for the bench's comparison only)."""
    keep, inbound_sums.part_of = inbound_sums.part_of, lambda *_: {}
    try:
        yield
    finally:
        inbound_sums.part_of = keep


def cost(model: ReadModel[Any], views: Views, events: list[tuple[Any, int]],
         after: int) -> float:
    """µs per event of projecting ``events`` (decoded) into the model's view, in batches of 500."""
    projection = model.projection(views[model])
    t = time.perf_counter()
    at = after
    for i in range(0, len(events), 500):
        projection.process_batch(events[i:i + 500], after=at)
        at = events[min(i + 500, len(events)) - 1][1]
    return (time.perf_counter() - t) / len(events) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=5)
    parser.add_argument("--skus", type=int, default=500)
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database", default=None)
    parser.add_argument("--inbound-only", action="store_true",
                        help="measure (1) only: the projection's cost per scan takes long")
    args = parser.parse_args()
    if args.quick:
        args.orders, args.queries = 1_000, 50
    url = args.database or f"sqlite:///{tempfile.mkdtemp()}/bench.db"
    settings = Settings(database_url=url)
    service = build_service(settings, clock=lambda: NOW)
    store = build_view_store(settings)
    log(f"seeding {args.orders} orders of {args.lines} lines into {url.split('?')[0]}")
    tns = seed(service, args.orders, args.lines, args.skus)
    started = time.perf_counter()
    ReadModelRunner(service, store).catch_up()
    log(f"views caught up in {time.perf_counter() - started:.0f} s")

    reader = StockReader(store[PURCHASE_ORDERS], store[SHIPMENTS], lambda: NOW)
    rng = random.Random(7)
    sums = store[SHIPMENTS].inbound_sums
    figures = {}
    for label, sku in (("warehouse", None), ("warehouse+sku", "pick")):
        def query(sku: str | None = sku) -> None:
            reader.inbound(warehouse=rng.choice(WAREHOUSES),
                           sku=f"SKU-{rng.randrange(args.skus)}" if sku else None, days=90,
                           account=None)

        def floor(sku: str | None = sku) -> None:
            sums.select(warehouse=rng.choice(WAREHOUSES),
                        sku=f"SKU-{rng.randrange(args.skus)}" if sku else None, account=None,
                        end=NOW.date() + timedelta(days=90))

        rounds = [timed(query, args.queries) for _ in range(args.rounds)]
        floors = [timed(floor, args.queries) for _ in range(args.rounds)]
        figures[label] = (statistics.median(percentile(r, 0.5) for r in rounds),
                          statistics.median(percentile(r, 0.99) for r in rounds),
                          statistics.median(percentile(r, 0.99) for r in floors))

    # (2) the cost per scan: each read model's projection of the same batches
    # of scans (decoded once, so reading the log is not counted), in memory
    costs: dict[str, list[float]] = {m.name: [] for m in READ_MODELS}
    costs[WITHOUT_SUMS] = []
    for r in range(0 if args.inbound_only else args.rounds):
        views = {m.name: Views.in_memory([m]) for m in READ_MODELS}
        for v in views.values():
            ReadModelRunner(service, v).catch_up()
        bare = Views.in_memory([SHIPMENTS])  # the shipments projection keeping no sums
        with no_inbound_sums():
            ReadModelRunner(service, bare).catch_up()
        after = service.position()
        scans = [Scan(scan_id=uuid.uuid4().hex, tracking_number=tn,
                      event=ScanEvent.DELIVERED if i % 10 == 0 else ScanEvent.LOADED,
                      location=Locode(ORIGINS[0]), occurred_at=NOW + timedelta(hours=r + 1),
                      device_id="bench", voyage=None) for i, tn in enumerate(tns)]
        for start in range(0, len(scans), 500):
            service.record_scans(scans[start:start + 500])
        notifications = service.recorder.select_notifications(start=after + 1, limit=10**7)
        events = [(service.mapper.to_domain_event(n), n.id) for n in notifications]
        for model in READ_MODELS:
            costs[model.name].append(cost(model, views[model.name], events, after))
        with no_inbound_sums():  # the same, without the sums: what they cost it
            costs[WITHOUT_SUMS].append(cost(SHIPMENTS, bare, events, after))
    per_scan = {name: statistics.median(c) for name, c in costs.items() if c}

    print(f"purchase orders bench: {args.orders} open orders, {args.orders * args.lines} lines, "
          f"{len(tns)} shipments, {url.split(':')[0]}; medians of {args.rounds} rounds")
    for label, (p50, p99, floor_p99) in figures.items():
        print(f"  inbound ({label:13}) p50 {p50:7.2f} ms  p99 {p99:7.2f} ms  "
              f"(bar {INBOUND_BAR_MS:.0f} ms; floor: the view's own query p99 {floor_p99:.2f} ms)")
    if per_scan:
        po_cost = per_scan.pop(PURCHASE_ORDERS.name)
        bare = per_scan.pop(WITHOUT_SUMS)
        sums_cost = per_scan[SHIPMENTS.name] - bare
        others = sum(per_scan.values()) - sums_cost
        print(f"  projecting a scan: {others:.1f} µs in the other read models "
              f"({', '.join(f'{n} {c:.1f}' for n, c in per_scan.items())}; shipments "
              f"without the inbound sums {bare:.1f}), {po_cost:.1f} µs in purchase orders "
              f"and {sums_cost:.1f} µs for the inbound sums: "
              f"+{(po_cost + sums_cost) / others:.1%} (bar {ADDED_BAR:.0%}; purchase "
              f"orders alone +{po_cost / others:.1%}, the sums alone +{sums_cost / others:.1%})")
    service.close()
    store.close()


if __name__ == "__main__":
    main()
