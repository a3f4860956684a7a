"""Adaptive batching of an MLflow deployment's requests, set through its environment variables.

Azure's YAML has no field for it, and the cloud does not batch, so the knobs live where Azure
accepts anything and ignores what it does not know: the deployment's `environment_variables`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

ENABLED = "EPDEV_ADAPTIVE_BATCHING"
MAX_BATCH_SIZE = "EPDEV_MAX_BATCH_SIZE"
MAX_LATENCY_MS = "EPDEV_MAX_LATENCY_MS"

DEFAULT_MAX_BATCH_SIZE = 32
DEFAULT_MAX_LATENCY_MS = 2.0

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})


@dataclass(frozen=True)
class AdaptiveBatching:
    """How concurrent requests to one instance of an MLflow deployment merge into one predict."""

    enabled: bool = True
    # The most requests merged into one predict call.
    max_batch_size: int = DEFAULT_MAX_BATCH_SIZE
    # How long the oldest request of a batch may wait for others to join it.
    max_latency_ms: float = DEFAULT_MAX_LATENCY_MS

    @classmethod
    def from_variables(cls, variables: Mapping[str, str]) -> AdaptiveBatching:
        """The settings in a deployment's environment variables; ValueError names a bad one."""
        enabled = True
        raw = variables.get(ENABLED)
        if raw is not None:
            text = raw.strip().lower()
            if text not in _TRUE | _FALSE:
                raise ValueError(f"{ENABLED} must be true or false, not {raw!r}")
            enabled = text in _TRUE
        size = int(
            _number(variables, MAX_BATCH_SIZE, DEFAULT_MAX_BATCH_SIZE, 1, None, "a whole number")
        )
        latency = _number(
            variables, MAX_LATENCY_MS, DEFAULT_MAX_LATENCY_MS, 0, 60_000, "milliseconds"
        )
        # A batch of one is no batching at all.
        return cls(enabled and size > 1, size, latency)


def _number(
    variables: Mapping[str, str],
    name: str,
    default: float,
    low: float,
    high: float | None,
    what: str,
) -> float:
    raw = variables.get(name)
    if raw is None:
        return default
    try:
        value = int(raw) if what == "a whole number" else float(raw)
    except ValueError:
        value = None
    if value is None or value < low or (high is not None and value > high):
        limits = f"from {low:g} to {high:g}" if high is not None else f"of at least {low:g}"
        raise ValueError(f"{name} must be {what} {limits}, not {raw!r}")
    return float(value)
