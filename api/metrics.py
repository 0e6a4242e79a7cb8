"""A small Prometheus registry: counters, gauges and latency histograms in text format."""

from __future__ import annotations

import threading
from collections import defaultdict

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
Labels = tuple[tuple[str, str], ...]


def _labels(labels: Labels, le: str | None = None) -> str:
    parts = [f'{k}="{v}"' for k, v in labels] + ([f'le="{le}"'] if le is not None else [])
    return "{" + ",".join(parts) + "}" if parts else ""


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counters: dict[str, dict[Labels, float]] = defaultdict(dict)
        self.gauges: dict[str, dict[Labels, float]] = defaultdict(dict)
        self.histograms: dict[str, dict[Labels, list[float]]] = defaultdict(dict)

    def inc(self, name: str, amount: float = 1, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            self.counters[name][key] = self.counters[name].get(key, 0) + amount

    def set_gauge(self, name: str, value: float, **labels: str) -> None:
        with self._lock:
            self.gauges[name][tuple(sorted(labels.items()))] = value

    def observe(self, name: str, seconds: float, **labels: str) -> None:
        key = tuple(sorted(labels.items()))
        with self._lock:
            row = self.histograms[name].setdefault(key, [0.0] * (len(BUCKETS) + 2))
            for i, bound in enumerate(BUCKETS):
                if seconds <= bound:
                    row[i] += 1
            row[-2] += 1
            row[-1] += seconds

    def render(self) -> str:
        lines: list[str] = []
        with self._lock:
            for name, series in sorted(self.counters.items()):
                lines.append(f"# TYPE {name} counter")
                lines += [f"{name}{_labels(k)} {v}" for k, v in series.items()]
            for name, series in sorted(self.gauges.items()):
                lines.append(f"# TYPE {name} gauge")
                lines += [f"{name}{_labels(k)} {v}" for k, v in series.items()]
            for name, histogram in sorted(self.histograms.items()):
                lines.append(f"# TYPE {name} histogram")
                for key, row in histogram.items():
                    for bound, count in zip(BUCKETS, row, strict=False):
                        lines.append(f"{name}_bucket{_labels(key, str(bound))} {count}")
                    lines.append(f"{name}_bucket{_labels(key, '+Inf')} {row[-2]}")
                    lines.append(f"{name}_count{_labels(key)} {row[-2]}")
                    lines.append(f"{name}_sum{_labels(key)} {row[-1]}")
        return "\n".join(lines) + "\n"


METRICS = Metrics()
