"""The autoscaler's arithmetic: desired instances from in-flight load, and its delays."""

from __future__ import annotations

from epdev.devserver.autoscale import Policy, Trend
from epdev.specs.deployment import ScaleSettings


def _policy(**settings: int) -> Policy:
    return Policy.of(ScaleSettings(type="target_utilization", **settings))  # type: ignore[arg-type]


def test_defaults_are_azures() -> None:
    policy = _policy()
    assert (policy.min_instances, policy.max_instances) == (1, 1)
    assert policy.target_percent == 70
    assert policy.polling_interval == 1


def test_desired_keeps_load_at_the_target_share_of_capacity() -> None:
    policy = _policy(min_instances=1, max_instances=10, target_utilization_percentage=50)
    # Four requests busy, two per instance allowed: 4 slots at 50% is 8 slots, 4 instances.
    assert policy.desired(4.0, 2) == 4
    assert policy.desired(4.1, 2) == 5
    assert policy.desired(0.0, 2) == 1
    assert policy.desired(100.0, 1) == 10
    # Exactly at the target needs no extra instance (no float rounding up).
    assert _policy(max_instances=10, target_utilization_percentage=70).desired(2.8, 1) == 4


def test_never_below_one_instance() -> None:
    assert _policy(min_instances=0, max_instances=3).desired(0.0, 1) == 1


def test_trend_waits_for_the_delays() -> None:
    trend = Trend(_policy(max_instances=5, scale_up_delay=2, scale_down_delay=10))
    assert trend.decide(1, 3, now=0.0) is None
    assert trend.decide(1, 3, now=1.0) is None
    assert trend.decide(1, 4, now=2.0) == 4
    # A dip resets the clock: scaling down needs ten quiet seconds in a row.
    assert trend.decide(4, 1, now=3.0) is None
    assert trend.decide(4, 4, now=8.0) is None
    assert trend.decide(4, 1, now=9.0) is None
    assert trend.decide(4, 1, now=18.0) is None
    assert trend.decide(4, 1, now=19.0) == 1
