"""Recycling an instance whose scoring thread is stuck, as gunicorn's worker timeout does under
Azure's inference server: a request timed out on it and it answered nothing since."""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING

from epdev.devserver.instancehealth import HealthState
from epdev.devserver.pool import Slot
from epdev.specs import OnlineDeployment

if TYPE_CHECKING:
    from epdev.devserver.supervisor import DeploymentRunner

# How long a request may run before its instance is recycled: the deployment's WORKER_TIMEOUT
# variable, else this (azmlinfsrv's default).
WORKER_TIMEOUT_VAR = "WORKER_TIMEOUT"
DEFAULT_WORKER_TIMEOUT_SECONDS = 300.0
_POLL_SECONDS = 0.25


def worker_timeout(spec: OnlineDeployment) -> float:
    """The deployment's WORKER_TIMEOUT in seconds, as azmlinfsrv reads it (default 300)."""
    raw = spec.environment_variables.get(WORKER_TIMEOUT_VAR)
    try:
        value = float(raw) if raw is not None else DEFAULT_WORKER_TIMEOUT_SECONDS
    except ValueError:
        return DEFAULT_WORKER_TIMEOUT_SECONDS
    return value if value > 0 else DEFAULT_WORKER_TIMEOUT_SECONDS


async def watch(runner: DeploymentRunner, slot: Slot) -> None:
    """A request timed out on `slot`: recycle its instance when the instance answers nothing
    more until WORKER_TIMEOUT after that request began."""
    instance, name = slot.instance, slot.instance.spec.name
    limit = worker_timeout(runner.spec)
    timeout_ms = runner.spec.request_settings.request_timeout_ms
    health = runner.health_of(instance)
    if health is not None and health.state == HealthState.READY:
        health.state = HealthState.UNRESPONSIVE
        health.last_error = f"a request got no answer within request_timeout_ms ({timeout_ms} ms)"
    runner.note(
        f"instance {name}: a request got no answer within request_timeout_ms "
        f"({timeout_ms} ms); the instance is recycled if it answers nothing until "
        f"WORKER_TIMEOUT ({limit:g} s) after that request began"
    )
    while True:
        since = slot.stuck_since
        if not since or not any(s is slot for s in runner.pool.slots):
            if since == 0.0 and health is not None:
                if health.state == HealthState.UNRESPONSIVE:
                    health.state = HealthState.READY
                runner.note(f"instance {name} answers again")
            return
        if time.monotonic() >= since + limit:
            break
        await asyncio.sleep(_POLL_SECONDS)
    reason = (
        f"was recycled: a request ran longer than WORKER_TIMEOUT ({limit:g} s) and the "
        "instance answered nothing since (its scoring thread is stuck)"
    )
    runner.recycled[instance] = reason
    if health is not None:
        health.last_error = reason
    runner.remove_slot(instance)
    runner.note(f"instance {name} {reason}: stopping it")
    await instance.stop(grace=1.0)
