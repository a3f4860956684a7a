"""The inner loop: a deployment with `--watch` restarts its instances when its code changes.

A restart is a rollout of the same spec: new instances start beside the old ones, take over
once ready, and the old ones drain, so callers see no failed request. Code that no longer
starts leaves the previous instances serving and says why in the logs.
"""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from watchfiles import Change, DefaultFilter, awatch

from epdev.devserver.provisioning import DeploymentFailed
from epdev.devserver.supervisor import DeploymentRunner


class _CodeFilter(DefaultFilter):
    """Ignore what editors and Python write beside the code (caches, swap files)."""

    def __call__(self, change: Change, path: str) -> bool:
        name = Path(path).name
        if name.endswith((".pyc", ".swp", ".swx", "~")) or name.startswith(".#"):
            return False
        return super().__call__(change, path)


async def watch_code(runner: DeploymentRunner, stop: asyncio.Event) -> None:
    """Restart `runner`'s instances after each burst of changes to its code folder."""
    code = runner.spec.code_configuration
    if code is None:
        return
    folder = code.code
    runner.note(f"watching {folder} for changes")
    async for changes in awatch(
        folder, watch_filter=_CodeFilter(), debounce=150, step=30, stop_event=stop
    ):
        names = sorted({Path(path).name for _, path in changes})
        runner.note(f"code changed ({', '.join(names)}): restarting the instances with it")
        try:
            await runner.start(runner.spec)
        except DeploymentFailed as exc:
            runner.note(f"the changed code does not start, the previous code keeps serving: {exc}")
        else:
            runner.note("now serving the changed code")


class CodeWatcher:
    """Restarts one runner's instances when its code changes, while turned on."""

    def __init__(self, runner: DeploymentRunner) -> None:
        self.runner = runner
        self._task: asyncio.Task[None] | None = None
        self._stop = asyncio.Event()

    async def turn(self, on: bool) -> None:
        """Start or stop watching (stopping first, so `turn(True)` restarts a watch)."""
        if self._task is not None:
            self._stop.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if on:
            self._stop = asyncio.Event()
            self._task = asyncio.create_task(watch_code(self.runner, self._stop))
