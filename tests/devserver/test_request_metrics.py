"""Request metrics: exact counts for known calls, percentiles within a bucket, bounded history."""

from __future__ import annotations

import math

import pytest

from epdev.devserver.metrics import (
    BOUNDS,
    HISTORY_SECONDS,
    RequestMetrics,
    bucket_of,
    parse_duration,
    quantile,
)

T0 = 1_700_000_000


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def nearest_rank(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[max(math.ceil(q * len(ordered)) - 1, 0)]


def test_a_known_sequence_of_calls_is_counted_exactly() -> None:
    clock = Clock()
    metrics = RequestMetrics(clock)
    latencies: list[float] = []
    # Second 0: 10 fast successes on blue; second 1: 3 failures on blue and 2 on green;
    # second 2: one call with a wrong key (no deployment) and 4 slow successes on green.
    for i in range(10):
        metrics.record("ep", "blue", 200, 0.002 + i * 0.0001)
        latencies.append(0.002 + i * 0.0001)
    clock.now += 1
    for _ in range(3):
        metrics.record("ep", "blue", 500, 0.010)
        latencies.append(0.010)
    metrics.record("ep", "green", 408, 5.0)
    metrics.record("ep", "green", 503, 0.0004)
    clock.now += 1
    metrics.record("ep", "", 401, 0.0002)
    for _ in range(4):
        metrics.record("ep", "green", 200, 0.250)

    now = metrics.now()
    everything = metrics.window(metrics.of("ep"), now - 59, now)
    assert everything.count == 20
    assert everything.summary()["status_classes"] == {"2xx": 14, "4xx": 2, "5xx": 4}
    assert everything.errors == 6
    assert everything.error_rate == pytest.approx(6 / 20)
    assert everything.rps == pytest.approx(20 / 60)

    blue = metrics.window(metrics.of("ep", "blue"), now - 59, now)
    assert (blue.count, blue.classes[2], blue.classes[5]) == (13, 10, 3)
    for q in (0.5, 0.9, 0.99):
        low, high = bucket_of(nearest_rank(latencies, q))
        estimate = blue.quantile(q)
        assert estimate is not None and low <= estimate <= high, (q, estimate, low, high)

    # Per-second steps: the last three seconds hold 10, 5 and 5 calls.
    steps = metrics.steps(metrics.of("ep"), now - 2, now, 1)
    assert [w.count for w in steps] == [10, 5, 5]
    assert [w.errors for w in steps] == [0, 5, 1]

    # The running totals Prometheus reads.
    totals = {
        (s.deployment, code): n for s in metrics.series.values() for code, n in s.codes.items()
    }
    assert totals == {
        ("blue", 200): 10,
        ("blue", 500): 3,
        ("green", 408): 1,
        ("green", 503): 1,
        ("green", 200): 4,
        ("", 401): 1,
    }


def test_windows_exclude_older_seconds_and_history_stays_an_hour() -> None:
    clock = Clock()
    metrics = RequestMetrics(clock)
    metrics.record("ep", "blue", 200, 0.001)
    clock.now += 120
    metrics.record("ep", "blue", 200, 0.001)
    now = metrics.now()
    assert metrics.window(metrics.of("ep"), now - 59, now).count == 1
    assert metrics.window(metrics.of("ep"), now - 299, now).count == 2

    # An hour and more later the slot of the first second is reused; memory does not grow.
    series = metrics.of("ep", "blue")[0]
    clock.now = T0 + HISTORY_SECONDS
    metrics.record("ep", "blue", 200, 0.001)
    assert len(series.ring) == HISTORY_SECONDS
    now = metrics.now()
    assert metrics.window([series], now - HISTORY_SECONDS + 1, now).count == 2
    assert series.count == 3  # the running total keeps everything


def test_percentiles_stay_within_one_bucket_of_the_truth() -> None:
    clock = Clock()
    metrics = RequestMetrics(clock)
    values = [0.0005 * (1.07**i) for i in range(120)]  # 0.5 ms up to about 1.6 s
    for value in values:
        metrics.record("ep", "blue", 200, value)
    now = metrics.now()
    window = metrics.window(metrics.of("ep"), now, now)
    for q in (0.5, 0.9, 0.99):
        low, high = bucket_of(nearest_rank(values, q))
        estimate = window.quantile(q)
        assert estimate is not None and low <= estimate <= high


def test_empty_windows_and_edge_buckets() -> None:
    assert quantile([0] * (len(BOUNDS) + 1), 0.5) is None
    over = [0] * (len(BOUNDS) + 1)
    over[-1] = 3
    assert quantile(over, 0.99) == BOUNDS[-1]
    metrics = RequestMetrics(Clock())
    now = metrics.now()
    empty = metrics.window(metrics.of("nothing"), now - 59, now)
    assert empty.summary()["p50_ms"] is None and empty.error_rate is None


def test_forget_drops_a_deleted_deployment_or_endpoint() -> None:
    metrics = RequestMetrics(Clock())
    for deployment in ("blue", "green", ""):
        metrics.record("ep", deployment, 200, 0.001)
    metrics.record("other", "blue", 200, 0.001)
    metrics.forget("ep", "green")
    assert sorted(s.deployment for s in metrics.of("ep")) == ["", "blue"]
    metrics.forget("ep")
    assert metrics.of("ep") == [] and len(metrics.of("other")) == 1


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90), ("90s", 90), ("5m", 300), ("1h", 3600), ("1.5m", 90)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


def test_bad_durations_are_refused() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_duration("five minutes")
