"""An instance's start: its ready signal raced against its exit, within init()'s timeout."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, TypeVar

T = TypeVar("T")


async def ready_or_exit(
    signal: Awaitable[T], exited: asyncio.Future[int], timeout: float
) -> tuple[asyncio.Future[T] | None, bool]:
    """Wait for `signal` (a ready line, a probe) or the instance's exit, at most `timeout` s.

    Returns the signal's task if it finished in time (its result may still be an error), and
    whether the time ran out with neither done. An unfinished signal is cancelled.
    """
    task = asyncio.ensure_future(signal)
    waiting: set[asyncio.Future[Any]] = {task, exited}
    try:
        done, _ = await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
    return (task if task in done else None), not done
