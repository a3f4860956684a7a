"""What the probes and the restarts say about a deployment's instances."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass


class HealthState(enum.StrEnum):
    STARTING = "Starting"
    READY = "Ready"
    NOT_READY = "NotReady"
    RESTARTING = "Restarting"
    CRASH_LOOP = "CrashLoop"
    UNRESPONSIVE = "Unresponsive"


@dataclass
class InstanceHealth:
    """What the probes and the restarts say about one instance."""

    name: str
    state: HealthState = HealthState.STARTING
    restarts: int = 0
    last_error: str | None = None
    pid: int | None = None

    def view(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state.value,
            "restarts": self.restarts,
            "last_error": self.last_error,
            "pid": self.pid,
        }


def summary(instances: Sequence[InstanceHealth], failed: bool) -> dict[str, object]:
    """The deployment's health from its instances'; `failed`: its provisioning failed."""
    looping = [h for h in instances if h.state == HealthState.CRASH_LOOP]
    if not instances:
        # Nothing runs: a failed deployment is not healthy, a new one not yet.
        state = "Unhealthy" if failed else "Starting"
    elif looping:
        state = HealthState.CRASH_LOOP.value
    elif all(h.state == HealthState.READY for h in instances):
        state = "Healthy"
    else:
        state = "Degraded"
    errors = [h.last_error for h in (looping or instances) if h.last_error]
    return {
        "state": state,
        "last_error": errors[-1] if errors else None,
        "instances": [h.view() for h in instances],
    }
