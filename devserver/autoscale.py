"""`scale_settings: {type: target_utilization}`: add and remove instances on in-flight load.

Beyond the cloud's managed endpoints (where only Kubernetes deployments honour it): the busy
figure is the requests in flight plus those queued for a slot, averaged over each polling
interval, against `max_concurrent_requests_per_instance` per instance.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from epdev.specs.deployment import ScaleSettings

if TYPE_CHECKING:
    from epdev.devserver.supervisor import DeploymentRunner

# Azure's defaults for TargetUtilizationScaleSettings; the two delays are epdev's.
DEFAULT_MIN_INSTANCES = 1
DEFAULT_MAX_INSTANCES = 1
DEFAULT_POLLING_INTERVAL = 1
DEFAULT_TARGET_PERCENT = 70
DEFAULT_SCALE_UP_DELAY = 0
DEFAULT_SCALE_DOWN_DELAY = 30
# Samples of the in-flight count per polling interval.
_SAMPLES = 10


@dataclass(frozen=True)
class Policy:
    """Scale settings with the defaults filled in."""

    min_instances: int
    max_instances: int
    polling_interval: float
    target_percent: int
    scale_up_delay: float
    scale_down_delay: float

    @classmethod
    def of(cls, settings: ScaleSettings) -> Policy:
        # Never below one instance: an endpoint with none answers 503 until one starts.
        low = max(1, _or(settings.min_instances, DEFAULT_MIN_INSTANCES))
        return cls(
            min_instances=low,
            max_instances=max(low, _or(settings.max_instances, DEFAULT_MAX_INSTANCES)),
            polling_interval=_or(settings.polling_interval, DEFAULT_POLLING_INTERVAL),
            target_percent=_or(settings.target_utilization_percentage, DEFAULT_TARGET_PERCENT),
            scale_up_delay=_or(settings.scale_up_delay, DEFAULT_SCALE_UP_DELAY),
            scale_down_delay=_or(settings.scale_down_delay, DEFAULT_SCALE_DOWN_DELAY),
        )

    def desired(self, busy: float, per_instance: int) -> int:
        """How many instances keep `busy` requests at the target share of their capacity."""
        wanted = math.ceil(round(busy * 100 / (self.target_percent * per_instance), 6))
        return min(self.max_instances, max(self.min_instances, wanted))


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


class Trend:
    """Asks for a new count only once the want has lasted its delay."""

    def __init__(self, policy: Policy) -> None:
        self.policy = policy
        self._since: float | None = None
        self._direction = 0

    def decide(self, current: int, desired: int, now: float) -> int | None:
        direction = (desired > current) - (desired < current)
        if direction != self._direction:
            self._direction, self._since = direction, now
        if direction == 0 or self._since is None:
            return None
        delay = self.policy.scale_up_delay if direction > 0 else self.policy.scale_down_delay
        if now - self._since < delay:
            return None
        self._since = now
        return desired


async def run(runner: DeploymentRunner, clock: Callable[[], float] = time.monotonic) -> None:
    """Poll the runner's pool and scale it until cancelled or the settings change type.

    `clock` times the delays (Trend's `now`); the polling itself sleeps on the event loop's.
    """
    trend: Trend | None = None
    while runner.spec.scale_settings.type == "target_utilization":
        policy = Policy.of(runner.spec.scale_settings)
        if trend is None or trend.policy != policy:
            trend = Trend(policy)
        busy = 0.0
        for _ in range(_SAMPLES):
            await asyncio.sleep(policy.polling_interval / _SAMPLES)
            pool = runner.pool
            busy += sum(slot.inflight for slot in pool.slots) + pool.waiting
        busy /= _SAMPLES
        settings = runner.spec.request_settings
        current = runner.spec.instance_count
        desired = policy.desired(busy, settings.max_concurrent_requests_per_instance)
        target = trend.decide(current, desired, clock())
        if target is not None and await runner.scale_to(target):
            runner.note(
                f"autoscale: {busy:.1f} request(s) in flight on average, "
                f"{current} -> {target} instance(s) (target {policy.target_percent}%)"
            )
