"""Prometheus text metrics, without a client library: counters by a
bounded set of labels (route templates, never raw paths), histograms with
fixed buckets, and gauges read when scraped."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence

# A gauge reads one value, or one per value of its label.
Reading = Callable[[], "float | Mapping[str, float]"]


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counters: dict[str, dict[tuple[tuple[str, str], ...], float]] = defaultdict(dict)
        self._help: dict[str, tuple[str, str]] = {}
        self._gauges: dict[str, tuple[Reading, str | None]] = {}
        self._histograms: dict[str, tuple[tuple[float, ...], list[int], list[float]]] = {}

    def counter(self, name: str, help_text: str) -> None:
        self._help[name] = ("counter", help_text)

    def gauge(self, name: str, help_text: str, read: Reading, label: str | None = None) -> None:
        """``read`` returns the value, or with ``label`` a value per label value."""
        self._help[name] = ("gauge", help_text)
        self._gauges[name] = (read, label)

    def histogram(self, name: str, help_text: str, buckets: Sequence[float]) -> None:
        self._help[name] = ("histogram", help_text)
        self._histograms[name] = (tuple(sorted(buckets)), [0] * len(buckets), [0.0, 0.0])

    def observe(self, name: str, value: float) -> None:
        bounds, counts, total = self._histograms[name]
        with self._lock:
            for i, bound in enumerate(bounds):
                if value <= bound:
                    counts[i] += 1
            total[0] += 1
            total[1] += value

    def observed(self, name: str) -> tuple[int, float]:
        """How many values a histogram has observed, and their sum."""
        _, _, (count, total) = self._histograms[name]
        return int(count), total

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            series = self._counters[name]
            series[key] = series.get(key, 0.0) + value

    def value(self, name: str, **labels: str) -> float:
        return self._counters[name].get(tuple(sorted(labels.items())), 0.0)

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            counters = {name: dict(series) for name, series in self._counters.items()}
        for name, (kind, help_text) in sorted(self._help.items()):
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")
            if kind == "gauge":
                lines += self._render_gauge(name)
                continue
            if kind == "histogram":
                lines += self._render_histogram(name)
                continue
            for labels, value in sorted(counters.get(name, {}).items()):
                rendered = ",".join(f'{k}="{_escape(v)}"' for k, v in labels)
                lines.append(f"{name}{{{rendered}}} {value:g}" if rendered else f"{name} {value:g}")
        return "\n".join(lines) + "\n"

    def _render_gauge(self, name: str) -> list[str]:
        read, label = self._gauges[name]
        try:
            value = read()
        except Exception:  # noqa: BLE001 - a broken gauge must not break scraping
            return [f"{name} NaN"] if label is None else []
        if isinstance(value, Mapping):
            return [f'{name}{{{label}="{_escape(k)}"}} {v:g}' for k, v in sorted(value.items())]
        return [f"{name} {value:g}"]

    def _render_histogram(self, name: str) -> list[str]:
        bounds, counting, totals = self._histograms[name]
        with self._lock:
            counts, (count, total) = list(counting), totals
        lines = [f'{name}_bucket{{le="{b:g}"}} {c}' for b, c in zip(bounds, counts, strict=True)]
        return lines + [f'{name}_bucket{{le="+Inf"}} {count:g}', f"{name}_sum {total:g}",
                        f"{name}_count {count:g}"]


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
