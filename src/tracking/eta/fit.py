"""Fitting the lane model: for each lane (and each wider lane it falls back
to) and each stage, the hours from reaching that stage to the delivery.

- ``eta`` is the recency-weighted median: a delivery's weight halves every
  ``half_life_days`` before the latest delivery fitted (so a refit on the
  same deliveries gives the same figures, whenever it runs).
- The window is split-conformal (conformalised quantile regression, Romano
  et al. 2019): the earlier two thirds of a group's deliveries (by delivery
  time) give the weighted quantiles at (1 - confidence) / 2 and
  (1 + confidence) / 2; the later third, predicted with them, gives the
  conformity scores max(low - y, y - high), and the window is widened (or
  narrowed) by their ceil((n + 1) * confidence)-th smallest. On
  exchangeable deliveries that window contains a new one with probability
  at least ``confidence``; on drifting lanes the recent calibration third
  tracks the drift.
- A group with fewer than ``min_deliveries`` deliveries is not published:
  the prediction falls back to the wider lane, then to the plan.

Vectorised with numpy: one sort per level, then per group slices.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Iterable, Sequence

import msgspec
import numpy as np
import numpy.typing as npt

from tracking.eta.lanes import Journey, Stage

_HOUR = 3600.0
_LEVELS = 3  # lane, country pair and mode, mode (Lane.keys)


class Parameters(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    min_deliveries: int = 30
    half_life_days: float = 90.0
    confidence: float = 0.8
    calibration_share: float = 1 / 3


class Figure(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """Of one lane key and stage: hours from the stage to the delivery."""

    key: str
    stage: Stage
    n: int
    median_hours: float
    earliest_hours: float
    latest_hours: float


class Durations(msgspec.Struct, kw_only=True):
    """The fitting's input, one row per (delivered journey, stage reached):
    the journey's key index at each level, the stage, hours to delivery,
    delivery time (POSIX seconds). Built from journeys, or directly (bench)."""

    keys: list[str]
    key_index: npt.NDArray[np.int64]  # shape (rows, 3)
    stage: npt.NDArray[np.int64]
    hours: npt.NDArray[np.float64]
    delivered: npt.NDArray[np.float64]


def durations(journeys: Iterable[Journey]) -> Durations:
    """The delivered journeys' rows, one per stage reached. Built in typed
    arrays (36 bytes a row, then turned into numpy's without a copy), so that
    a million journeys take some 250 MB rather than Python lists' gigabytes."""
    index: dict[str, int] = {}
    keys, stages = array("q"), array("q")
    hours, delivered = array("d"), array("d")
    for j in journeys:
        if j.delivered_at is None:
            continue
        ids = [index.setdefault(k, len(index)) for k in j.lane.keys()]
        end = j.delivered_at.timestamp()
        for stage, when in j.stages:
            keys.extend(ids)
            stages.append(stage)
            hours.append((end - when.timestamp()) / _HOUR)
            delivered.append(end)
    return Durations(
        keys=list(index),
        key_index=np.frombuffer(keys, dtype=np.int64).reshape(-1, _LEVELS),
        stage=np.frombuffer(stages, dtype=np.int64), hours=np.frombuffer(hours, dtype=np.float64),
        delivered=np.frombuffer(delivered, dtype=np.float64))


def fit(journeys: Iterable[Journey], parameters: Parameters = Parameters()) -> tuple[Figure, ...]:
    return fit_durations(durations(journeys), parameters)


def fit_durations(d: Durations, p: Parameters = Parameters()) -> tuple[Figure, ...]:
    if not len(d.hours):
        return ()
    latest = float(d.delivered.max())
    weight = np.power(0.5, (latest - d.delivered) / (p.half_life_days * 86400.0))
    lo_q, hi_q = (1 - p.confidence) / 2, (1 + p.confidence) / 2
    stages = len(Stage)
    figures: list[Figure] = []
    for level in range(_LEVELS):
        group = d.key_index[:, level] * stages + d.stage
        order = np.lexsort((d.delivered, group))
        g = group[order]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        ends = np.r_[starts[1:], len(g)]
        for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
            n = end - start
            if n < p.min_deliveries:
                continue
            rows = order[start:end]
            y, w = d.hours[rows], weight[rows]
            cut = n - max(int(n * p.calibration_share), 1)
            median, low, high = weighted_quantiles(y[:cut], w[:cut], (0.5, lo_q, hi_q))
            scores = np.maximum(low - y[cut:], y[cut:] - high)
            q = conformal_margin(scores, p.confidence)
            code = int(g[start])
            figures.append(Figure(d.keys[int(d.key_index[rows[0], level])], Stage(code % stages),
                                  n, median, min(low - q, median), max(high + q, median)))
    figures.sort(key=lambda f: (f.key, f.stage))
    return tuple(figures)


def weighted_quantiles(
    values: npt.NDArray[np.float64], weights: npt.NDArray[np.float64], qs: Sequence[float]
) -> list[float]:
    """Quantiles of a weighted sample (the midpoint rule of each weight's step)."""
    order = np.argsort(values, kind="stable")
    v, w = values[order], weights[order]
    cumulative = (np.cumsum(w) - 0.5 * w) / w.sum()
    return [float(x) for x in np.interp(qs, cumulative, v)]


def conformal_margin(scores: npt.NDArray[np.float64], confidence: float) -> float:
    """The ceil((n + 1) * confidence)-th smallest score (the largest when
    there are too few scores for that rank)."""
    n = len(scores)
    rank = min(math.ceil((n + 1) * confidence), n)
    return float(np.partition(scores, rank - 1)[rank - 1])
