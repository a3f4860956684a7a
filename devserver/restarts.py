"""When an instance that died is started again: pauses that grow while it keeps failing.

As the kubelet's back-off: each failure in a row doubles the pause up to a cap, an instance
that ran a good while before dying starts afresh, and a few failures in a row are a crash loop.
The clock and the sleep are parameters, so a test can follow the policy without waiting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

# Pause before each restart of an instance that keeps dying, in seconds.
PAUSES = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)
# An instance that ran this long before dying starts its backoff afresh.
STABLE_SECONDS = 60.0
# This many failures in a row (deaths or failed restarts) and the instance is in a crash loop.
CRASH_LOOP_AFTER = 3

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass
class Backoff:
    """The restart policy of one instance slot, across the instances that fill it in turn."""

    clock: Clock = time.monotonic
    sleep: Sleep = asyncio.sleep
    failures: int = 0
    _since: float = 0.0

    def running(self) -> None:
        """An instance is up in the slot: its run is timed from now."""
        self._since = self.clock()

    def exited(self) -> None:
        """The instance died (or was stopped for failing its liveness probe)."""
        ran_long = self.clock() - self._since >= STABLE_SECONDS
        self.failures = 1 if ran_long else self.failures + 1

    def restart_failed(self) -> None:
        """A new instance in its place did not start."""
        self.failures += 1

    @property
    def pause(self) -> float:
        """Seconds to wait before the next restart."""
        return PAUSES[min(max(self.failures, 1) - 1, len(PAUSES) - 1)]

    @property
    def crash_loop(self) -> bool:
        return self.failures >= CRASH_LOOP_AFTER

    async def wait(self) -> None:
        await self.sleep(self.pause)
