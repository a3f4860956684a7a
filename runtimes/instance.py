"""The contract between the devserver's supervisor and any runtime."""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from epdev.runtimes.environment import RuntimeEnvironment

LogSink = Callable[[str, str], None]
"""Receives (stream, line) for every line an instance prints; stream is "stdout" or "stderr"."""


class InstanceState(enum.StrEnum):
    STARTING = "Starting"
    READY = "Ready"
    FAILED = "Failed"
    STOPPED = "Stopped"


class InstanceFailed(Exception):
    """An instance could not become ready; the message says why in one line."""


@dataclass(frozen=True)
class InstanceSpec:
    """Everything a runtime needs to run one instance of a deployment."""

    endpoint: str
    deployment: str
    index: int
    code_dir: Path
    scoring_script: str
    model_path: Path | None
    environment_variables: dict[str, str] = field(default_factory=dict)
    max_concurrent_requests: int = 1
    # A folder of the instance's own under EPDEV_HOME, kept across restarts of the instance.
    work_dir: Path = Path()
    # What isolated runtimes (venv, docker) rebuild; the process runtime ignores it.
    environment: RuntimeEnvironment | None = None
    # EPDEV_HOME's cache for environments, images' wheelhouses and the worker bundle.
    cache_dir: Path = Path()
    # Serve the MLflow model at model_path (MLflow's scoring protocol) instead of a script.
    mlflow: bool = False
    # Adaptive batching of an MLflow model: the most requests per predict call (1: off) and
    # how long the oldest may wait for others.
    max_batch_size: int = 1
    max_batch_latency_ms: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.deployment}-{self.index}"


class Instance(Protocol):
    """One running copy of a deployment, serving the worker's HTTP API at `url`."""

    spec: InstanceSpec
    state: InstanceState

    @property
    def url(self) -> str:
        """Base URL of the worker, e.g. http://127.0.0.1:40123 (no trailing slash)."""
        ...

    @property
    def pid(self) -> int | None: ...

    async def start(self, ready_timeout: float) -> None:
        """Start and return once `init()` has finished and the worker serves requests.

        Raises InstanceFailed when the script cannot load, `init()` raises, the process exits
        or readiness does not come within `ready_timeout` seconds (the instance is then stopped).
        """
        ...

    async def stop(self, grace: float = 5.0) -> None:
        """Stop the instance, forcefully after `grace` seconds. Safe to call twice."""
        ...

    async def wait(self) -> int:
        """Wait until the instance exits on its own and return its exit code."""
        ...

    def exit_reason(self, code: int) -> str:
        """How an instance that ended with `code` (what `wait` returned) ended, in words, with
        a memory hint where it was killed: `exit code 1`, `signal SIGKILL; ...`."""
        ...


class Runtime(Protocol):
    name: str

    def create_instance(self, spec: InstanceSpec, sink: LogSink) -> Instance: ...
