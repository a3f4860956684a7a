"""What a job engine offers the job runner: a number of slots, each running one mini-batch at a
time. The local engine's slots are worker processes; the Dask engine's are task submissions."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class MiniBatchFailed(Exception):
    """One attempt at a mini-batch failed (run() raised, timed out, or its worker died)."""


class EngineFailed(Exception):
    """The engine cannot run this job at all (the script fails to load, init() raises)."""


@dataclass(frozen=True)
class Answer:
    rows: int
    data: bytes


@dataclass(frozen=True)
class ScriptSetup:
    """How every worker of a job loads the batch script."""

    app_root: Path
    entry_script: str
    model_dir: Path
    environment: dict[str, str] = field(default_factory=dict)
    summary_only: bool = False


class Slots(Protocol):
    size: int

    async def start(self) -> None:
        """Make every slot ready (init() done); raises EngineFailed."""

    async def run(self, slot: int, number: int, files: list[str], timeout: float) -> Answer:
        """Run one mini-batch in `slot`; raises MiniBatchFailed, or EngineFailed when the slot
        cannot be brought back after a failure."""

    async def stop(self) -> None:
        """Release every worker."""
