"""How one instance of a deployment runs: the in-instance worker and the runtimes that host it."""

from epdev.runtimes.instance import (
    Instance,
    InstanceFailed,
    InstanceSpec,
    InstanceState,
    LogSink,
    Runtime,
)

__all__ = ["Instance", "InstanceFailed", "InstanceSpec", "InstanceState", "LogSink", "Runtime"]
