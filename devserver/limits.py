"""How much this machine takes: the most instances a deployment may ask for, and how many
instances start at once."""

from __future__ import annotations

import os

import psutil

from epdev.devserver.errors import BadRequest
from epdev.specs import OnlineDeployment

MAX_INSTANCES_ENV = "EPDEV_MAX_INSTANCES"
# Each instance is at least a Python process with the user's libraries: budget this much
# memory for one, and a few per core.
_MEMORY_PER_INSTANCE = 256 * 1024 * 1024
_INSTANCES_PER_CORE = 8
_FLOOR = 4


def default_max_instances() -> int:
    cores = os.cpu_count() or 1
    memory = psutil.virtual_memory().total
    return max(_FLOOR, min(cores * _INSTANCES_PER_CORE, memory // _MEMORY_PER_INSTANCE))


def max_instances() -> tuple[int, str]:
    """The limit and where it comes from (for the error message)."""
    raw = os.environ.get(MAX_INSTANCES_ENV, "").strip()
    if raw:
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if value >= 1:
            return value, f"{MAX_INSTANCES_ENV}={value}"
    cores = os.cpu_count() or 1
    gib = psutil.virtual_memory().total / 1024**3
    return default_max_instances(), (
        f"the default for {cores} core(s) and {gib:.0f} GiB of memory; "
        f"raise it with {MAX_INSTANCES_ENV} or `epdev serve --max-instances`"
    )


def check_instance_counts(spec: OnlineDeployment) -> None:
    """Refuse a deployment that would start more instances than this machine takes."""
    limit, why = max_instances()
    scale = spec.scale_settings
    asked = [("instance_count", spec.instance_count)]
    if scale.max_instances is not None:
        asked.append(("scale_settings.max_instances", scale.max_instances))
    if scale.min_instances is not None:
        asked.append(("scale_settings.min_instances", scale.min_instances))
    for field, count in asked:
        if count > limit:
            raise BadRequest(
                f"{field}: {count} is more than this devserver runs for one deployment "
                f"({limit}: {why})"
            )


def start_parallelism() -> int:
    """How many instances start at once: enough to use the cores, few enough that the control
    plane keeps answering while a large deployment comes up."""
    return max(2, 2 * (os.cpu_count() or 1))
