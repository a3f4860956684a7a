"""How one instance of a deployment runs: the in-instance worker and the runtimes that host it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from epdev.runtimes.instance import (
    Instance,
    InstanceFailed,
    InstanceSpec,
    InstanceState,
    LogSink,
    Runtime,
)

if TYPE_CHECKING:
    from epdev.runtimes.process import ProcessRuntime

__all__ = [
    "Instance",
    "InstanceFailed",
    "InstanceSpec",
    "InstanceState",
    "LogSink",
    "ProcessRuntime",
    "Runtime",
]


def __getattr__(name: str) -> Any:
    # Imported on first use: the worker imports this package too and must start fast.
    if name == "ProcessRuntime":
        from epdev.runtimes.process import ProcessRuntime

        return ProcessRuntime
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
