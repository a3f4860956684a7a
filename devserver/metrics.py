"""Request metrics: per-second aggregates of the last hour, and running totals for Prometheus.

Calls arrive in batches from the router's queue (epdev.devserver.calls). Recording one touches
one slot of one series and a few counters: no lock, no I/O. Everything runs on the event loop's
thread, so readers (the API, the Prometheus collector) see consistent numbers as long as they
read from that thread too.

Latencies go into fixed histogram buckets; percentiles are estimated from them, so they are
exact to within one bucket (about 1.5x apart, finer below a second).
"""

from __future__ import annotations

import bisect
import re
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

HISTORY_SECONDS = 3600
"""How far back the per-second aggregates reach; older seconds are overwritten."""


def _bounds() -> tuple[float, ...]:
    # 1, 1.5, 2, 3, 4, 5, 7.5 per decade, from 0.1 ms to 60 s: upper bounds of the buckets.
    steps = (1.0, 1.5, 2.0, 3.0, 4.0, 5.0, 7.5)
    found = [round(s * 10.0**exp, 6) for exp in range(-4, 2) for s in steps]
    return (*[b for b in found if b <= 60.0], 60.0)


BOUNDS: tuple[float, ...] = _bounds()
"""Upper bounds (seconds, inclusive) of the latency buckets; a last bucket takes the rest."""
BUCKETS = len(BOUNDS) + 1

STATUS_CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")


class _Second:
    """The calls of one series that ended within one wall-clock second."""

    __slots__ = ("classes", "count", "hist", "latency_sum", "stamp")

    def __init__(self, stamp: int) -> None:
        self.stamp = stamp
        self.count = 0
        self.latency_sum = 0.0
        # Indexed by status // 100; index 0 catches anything outside 100-599.
        self.classes = [0, 0, 0, 0, 0, 0]
        self.hist = [0] * BUCKETS


class Series:
    """The calls of one deployment of one endpoint (deployment "" for calls no deployment took)."""

    __slots__ = ("codes", "count", "deployment", "endpoint", "hist", "latency_sum", "ring")

    def __init__(self, endpoint: str, deployment: str) -> None:
        self.endpoint = endpoint
        self.deployment = deployment
        self.ring: list[_Second | None] = [None] * HISTORY_SECONDS
        self.codes: dict[int, int] = {}
        self.hist = [0] * BUCKETS
        self.latency_sum = 0.0
        self.count = 0

    def record(self, status: int, seconds: float, now: int) -> None:
        index = now % HISTORY_SECONDS
        second = self.ring[index]
        if second is None or second.stamp != now:
            second = self.ring[index] = _Second(now)
        bucket = bisect.bisect_left(BOUNDS, seconds)
        second.count += 1
        second.latency_sum += seconds
        second.hist[bucket] += 1
        second.classes[status // 100 if 100 <= status < 600 else 0] += 1
        self.codes[status] = self.codes.get(status, 0) + 1
        self.hist[bucket] += 1
        self.latency_sum += seconds
        self.count += 1

    def seconds(self, start: int, end: int) -> Iterable[_Second]:
        """The recorded seconds in [start, end] (at most the last hour's)."""
        for stamp in range(max(start, end - HISTORY_SECONDS + 1), end + 1):
            second = self.ring[stamp % HISTORY_SECONDS]
            if second is not None and second.stamp == stamp:
                yield second


@dataclass
class Window:
    """Calls summed over a span of seconds."""

    seconds: int
    count: int = 0
    latency_sum: float = 0.0
    classes: list[int] = field(default_factory=lambda: [0] * 6)
    hist: list[int] = field(default_factory=lambda: [0] * BUCKETS)

    def add(self, second: _Second) -> None:
        self.count += second.count
        self.latency_sum += second.latency_sum
        self.classes = [a + b for a, b in zip(self.classes, second.classes, strict=True)]
        self.hist = [a + b for a, b in zip(self.hist, second.hist, strict=True)]

    @property
    def rps(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        """Calls answered with a 4xx or 5xx status (or none we could classify)."""
        return self.classes[4] + self.classes[5] + self.classes[0]

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """The q-quantile of the latencies in seconds, interpolated inside its bucket."""
        return quantile(self.hist, q)

    def summary(self) -> dict[str, object]:
        return {
            "requests": self.count,
            "rps": round(self.rps, 3),
            "status_classes": {
                name: self.classes[i + 1]
                for i, name in enumerate(STATUS_CLASSES)
                if self.classes[i + 1]
            },
            "error_rate": _round(self.error_rate, 4),
            "p50_ms": _ms(self.quantile(0.5)),
            "p90_ms": _ms(self.quantile(0.9)),
            "p99_ms": _ms(self.quantile(0.99)),
            "mean_ms": _ms(self.latency_sum / self.count if self.count else None),
        }


def quantile(hist: list[int], q: float) -> float | None:
    """Estimate a quantile from bucket counts (as Prometheus' histogram_quantile does)."""
    total = sum(hist)
    if not total:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(hist):
        if count and seen + count >= rank:
            if index >= len(BOUNDS):
                return BOUNDS[-1]  # beyond the last bound: all we know is "more than this"
            low = BOUNDS[index - 1] if index else 0.0
            high = BOUNDS[index]
            return low + (high - low) * max(rank - seen, 0.0) / count
        seen += count
    return BOUNDS[-1]


def bucket_of(seconds: float) -> tuple[float, float]:
    """The (exclusive low, inclusive high) bounds of the bucket a latency falls in."""
    index = bisect.bisect_left(BOUNDS, seconds)
    low = BOUNDS[index - 1] if index else 0.0
    return low, BOUNDS[index] if index < len(BOUNDS) else float("inf")


class RequestMetrics:
    """Every series of every endpoint."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.clock = clock
        self.series: dict[tuple[str, str], Series] = {}

    def record(self, endpoint: str, deployment: str, status: int, seconds: float) -> None:
        """Count a call that ended now."""
        self.record_at(endpoint, deployment, status, seconds, int(self.clock()))

    def record_at(
        self, endpoint: str, deployment: str, status: int, seconds: float, stamp: int
    ) -> None:
        """Count a call that ended in the second `stamp` (Unix time)."""
        key = (endpoint, deployment)
        series = self.series.get(key)
        if series is None:
            series = self.series[key] = Series(endpoint, deployment)
        series.record(status, seconds, stamp)

    def forget(self, endpoint: str, deployment: str | None = None) -> None:
        """Drop an endpoint's (or one deployment's) series once it is deleted."""
        for key in [k for k in self.series if k[0] == endpoint]:
            if deployment is None or key[1] == deployment:
                del self.series[key]

    def of(self, endpoint: str, deployment: str | None = None) -> list[Series]:
        """An endpoint's series: all of them, or one deployment's."""
        return [
            s
            for (e, d), s in self.series.items()
            if e == endpoint and (deployment is None or d == deployment)
        ]

    def window(self, series: list[Series], start: int, end: int) -> Window:
        total = Window(seconds=end - start + 1)
        for one in series:
            for second in one.seconds(start, end):
                total.add(second)
        return total

    def steps(self, series: list[Series], start: int, end: int, step: int) -> list[Window]:
        """Consecutive windows of `step` seconds from `start`, the last one ending at `end`."""
        windows = [
            Window(seconds=min(step, end - begin + 1)) for begin in range(start, end + 1, step)
        ]
        for one in series:
            for second in one.seconds(start, end):
                windows[(second.stamp - start) // step].add(second)
        return windows

    def now(self) -> int:
        return int(self.clock())


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(s|m|h)?\s*$")


def parse_duration(text: str) -> int:
    """Seconds in "90", "90s", "5m" or "1h"; ValueError otherwise."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration: use seconds or a number with s, m or h")
    value = float(match.group(1)) * {"s": 1, "m": 60, "h": 3600}[match.group(2) or "s"]
    return round(value)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
