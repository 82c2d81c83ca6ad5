"""``tracking eta report --plot FILE.png``: how honest the ETA is, drawn.

Both panels come from the backtest (``tracking.eta.backtest``: each ETA from
a model fitted only on the deliveries made before it), over the last
``days`` of the log:

- the reliability diagram: for each stated confidence in ``LEVELS``, the
  model refitted at that confidence, and the share of its windows that held
  the delivery (the observed coverage); a calibrated ETA is on the diagonal.
  Only the lane model's windows count (a plan window states no confidence);
- the mean absolute error by how long before the delivery the ETA was shown
  (``tracking.eta.accuracy.BUCKETS``), the model's beside the plan-only ETA's.

matplotlib is an optional extra (``pip install '.[plot]'``); without it the
command says so and draws nothing.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TextIO

from adapters.lanes import cases
from tracking.application import ShipmentService
from tracking.eta.accuracy import BUCKETS, Accuracy, summarize
from tracking.eta.backtest import Case, backtest
from tracking.eta.fit import Parameters

LEVELS = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95)
MISSING = ("tracking eta report --plot needs matplotlib, an optional extra: "
           "pip install '.[plot]' (or pip install 'matplotlib>=3.8,<4')")


def coverage_by_level(found: list[Case], *, since: datetime, until: datetime,
                      levels: tuple[float, ...] = LEVELS) -> list[tuple[float, float | None, int]]:
    """(stated confidence, observed coverage of the model's windows, windows)."""
    points = []
    for level in levels:
        ours, _ = backtest(found, since=since, until=until, parameters=Parameters(confidence=level))
        windows = [s for s in ours if s.source == "lanes" and s.inside is not None]
        points.append((level, sum(s.inside for s in windows) / len(windows) if windows else None,
                       len(windows)))
    return points


def report(service: ShipmentService, plot: str | Path, *, days: int = 90,
           until: datetime | None = None, out: TextIO | None = None) -> int:
    out = out or sys.stdout
    try:
        import matplotlib
    except ImportError:
        print(MISSING, file=sys.stderr)
        return 1
    matplotlib.use("Agg")  # files only, no display
    until = until or datetime.now(UTC)
    since = until - timedelta(days=days)
    found = list(cases(service))
    ours, plan = backtest(found, since=since, until=until)
    points = coverage_by_level(found, since=since, until=until)
    _draw(plot, points, summarize(ours), summarize(plan), since=since, until=until,
          deliveries=len(found))
    for level, covered, n in points:
        shown = "-" if covered is None else f"{covered:.1%}"
        print(f"stated {level:.0%}: observed {shown} of {n:,} windows", file=out)
    print(f"wrote {plot}", file=out)
    return 0


def _draw(plot: str | Path, points: list[tuple[float, float | None, int]], ours: Accuracy,
          plan: Accuracy, *, since: datetime, until: datetime, deliveries: int) -> None:
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.5), layout="constrained")
    drawn = [(c, o) for c, o, _ in points if o is not None]
    left.plot([0, 1], [0, 1], linestyle="--", color="grey", label="calibrated")
    left.plot([c for c, _ in drawn], [o for _, o in drawn], marker="o", label="lane model")
    left.set(xlim=(0.4, 1), ylim=(0.4, 1), xlabel="stated confidence of the window",
             ylabel="observed coverage", title="Reliability of the ETA window")
    left.legend(loc="upper left")
    width = 0.38
    xs = range(len(BUCKETS))
    for shift, name, accuracy in ((-width / 2, "lane model", ours), (width / 2, "plan only", plan)):
        right.bar([x + shift for x in xs], [accuracy.mae_hours[b] or 0.0 for b in BUCKETS],
                  width, label=name)
    right.set_xticks(list(xs), [f"{b} out" for b in BUCKETS])
    right.set(ylabel="mean absolute error, hours", title="ETA error by time before delivery")
    right.legend()
    fig.suptitle(f"Backtest {since:%Y-%m-%d} to {until:%Y-%m-%d}, {deliveries:,} delivered "
                 "shipments in the log, no look-ahead")
    fig.savefig(plot, format="png", dpi=100)
    plt.close(fig)
