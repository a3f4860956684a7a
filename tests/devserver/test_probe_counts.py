"""Probe verdicts from consecutive results, as the kubelet counts them."""

from __future__ import annotations

from epdev.devserver.probes import ProbeCount
from epdev.specs.deployment import Probe


def test_failing_takes_failure_threshold_in_a_row() -> None:
    count = ProbeCount(Probe(failure_threshold=3))
    assert count.record("down") is None
    assert count.record("down") is None
    assert count.record(None) is None  # a pass starts the count again
    assert count.record("down") is None
    assert count.record("down") is None
    assert count.record("still down") is False
    assert count.last_error == "still down"
    assert count.record("down") is None  # the verdict is given once


def test_passing_again_takes_success_threshold_in_a_row() -> None:
    count = ProbeCount(Probe(failure_threshold=1, success_threshold=2))
    assert count.record("down") is False
    assert count.record(None) is None
    assert count.record("down") is None
    assert count.record(None) is None
    assert count.record(None) is True
    assert count.passing
