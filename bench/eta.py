"""What the ETA model costs, each figure printed beside its bar or ceiling
measured in the same run:

1. lane statistics (``tracking.eta.fit``) over many delivered shipments:
   the fit from ready columns (7 stages each, the six simulated lanes'
   keys spread over 600 lanes), its time and the process's peak memory;
   and turning Journey values into those columns, per shipment
   (bar: 1,000,000 shipments in < 60 s);
2. the cost the ETA adds per event in the projection: the shipments read
   model rebuilt (in memory, from a simulated history) as it was before
   (the ETA not derived with a model: the plan's, as before), with a
   published model (every ETA from the lanes), and the ETA history read
   model alone; events/s each (bar: < 10% of the first);
3. the accuracy answer's computation over the delivered history (median
   and p99 of repeated runs; bar: p99 < 100 ms).

    .venv/bin/python bench/eta.py [--shipments 1000000] [--history 2000]
"""

from __future__ import annotations

import argparse
import gc
import resource
import statistics
import sys
import time
from datetime import UTC, datetime

import numpy as np

sys.path.insert(0, ".")

from adapters import lanes  # noqa: E402
from adapters.history import simulate_history  # noqa: E402
from projections import etamodels, etahistory, shipments  # noqa: E402
from projections.readmodel import Views  # noqa: E402
from projections.runner import ReadModelRunner  # noqa: E402
from tracking.application import ShipmentService  # noqa: E402
from tracking.eta.accuracy import ALL  # noqa: E402
from tracking.eta.fit import Durations, durations, fit_durations  # noqa: E402
from tracking.eta.lanes import Stage  # noqa: E402


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def lane_statistics(count: int) -> None:
    rng = np.random.default_rng(1)
    stages = len(Stage)
    rows = count * stages
    lane = rng.integers(0, 600, count)
    keys = [f"lane {i}" for i in range(600)] + [f"pair {i}" for i in range(60)] + \
        [f"mode {i}" for i in range(4)]
    key_index = np.repeat(np.stack([lane, 600 + lane % 60, 660 + lane % 4], axis=1), stages, axis=0)
    delivered = np.repeat(1.7e9 + rng.uniform(0, 365 * 86400, count), stages)
    hours = rng.lognormal(4, 0.5, rows)
    d = Durations(keys=keys, key_index=key_index, stage=np.tile(np.arange(stages), count),
                  hours=hours, delivered=delivered)
    before = _rss_mb()
    started = time.perf_counter()
    figures = fit_durations(d)
    elapsed = time.perf_counter() - started
    print(f"lane statistics: {count:,} delivered shipments ({rows:,} stage durations) fitted in "
          f"{elapsed:.1f} s into {len(figures):,} figures (bar < 60 s); peak RSS "
          f"{_rss_mb():,.0f} MB ({before:,.0f} MB with the columns built)")


def _rebuild_rate(service: ShipmentService, model: object, *, with_model: bool) -> tuple[float, int]:
    views = Views.in_memory([model])  # type: ignore[list-item]
    runner = ReadModelRunner(service, views, batch_size=500)
    original = etamodels.EtaModels.shown
    if not with_model:  # as before the ETA model: the view derives the plan's ETA itself
        etamodels.EtaModels.shown = lambda self, *a: None  # type: ignore[assignment,method-assign,return-value]
    try:
        started = time.perf_counter()
        events = runner.rebuild()
        elapsed = time.perf_counter() - started
    finally:
        etamodels.EtaModels.shown = original  # type: ignore[method-assign]
    return events / elapsed, events


def projection_cost(history: int) -> ShipmentService:
    service = ShipmentService()
    simulate_history(service, history, seed=5, out=None)
    lanes.publish(service, out=sys.stderr)
    # Re-record the history after the model, so that every ETA comes from it.
    simulate_history(service, history, seed=6, out=None)
    runs = {name: [] for name in ("before", "model", "history")}  # type: dict[str, list[float]]
    events = 0
    for i in range(6):  # alternating which goes first: the machine is shared
        gc.collect()
        order = [False, True] if i % 2 else [True, False]
        for with_model in order:
            rate, events = _rebuild_rate(service, shipments.READ_MODEL, with_model=with_model)
            runs["model" if with_model else "before"].append(rate)
        if i < 3:
            runs["history"].append(_rebuild_rate(service, etahistory.READ_MODEL, with_model=True)[0])
    before, model, hist = (statistics.median(runs[k]) for k in ("before", "model", "history"))
    per_event = (1 / model - 1 / before) * 1e6
    print(f"projection, {events:,} events of {2 * history:,} shipments (median of 6 rebuilds each): "
          f"shipments view as before {before:,.0f} events/s (the ceiling), with the lane model "
          f"{model:,.0f} events/s ({per_event:+.1f} us/event, {1 - model / before:+.1%} of the "
          f"rate; bar < 10%); the ETA history view alone {hist:,.0f} events/s")
    return service


def accuracy_cost(service: ShipmentService) -> None:
    views = Views.in_memory([etahistory.READ_MODEL])
    ReadModelRunner(service, views).rebuild()
    view = views[etahistory.READ_MODEL]
    times = []
    n = 0
    for _ in range(50):
        started = time.perf_counter()
        found = view.sums(origin=None, destination=None, mode=None, carrier=None)
        n = found[ALL].n
        {k: v.accuracy() for k, v in found.items()}
        times.append(time.perf_counter() - started)
    times.sort()
    print(f"accuracy over {n:,} deliveries: median {statistics.median(times) * 1000:.1f} ms, "
          f"p99 {times[int(len(times) * 0.99) - 1] * 1000:.1f} ms (bar: p99 < 100 ms; the "
          "computation, without HTTP)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--shipments", type=int, default=1_000_000)
    parser.add_argument("--history", type=int, default=2000)
    args = parser.parse_args()
    print(f"bench/eta.py, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    lane_statistics(args.shipments)
    service = projection_cost(args.history)
    accuracy_cost(service)
    journeys = [c.journey for c in lanes.cases(service)]
    started = time.perf_counter()
    durations(journeys)
    per = (time.perf_counter() - started) / max(len(journeys), 1)
    print(f"journeys to columns: {per * 1e6:.1f} us a delivered shipment "
          f"({per * 1e6:.0f} s per million)")


if __name__ == "__main__":
    main()
