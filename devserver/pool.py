"""The router's view of a deployment's ready instances: slots, and the pool that picks one."""

from __future__ import annotations

import asyncio
import itertools
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from epdev.runtimes import Instance


@dataclass(eq=False)
class Slot:
    """One ready instance as the router sees it."""

    instance: Instance
    url: str
    inflight: int = 0
    # When the oldest request that timed out on this instance began (monotonic), while the
    # instance has answered nothing since; 0.0 otherwise. The router sets and clears it.
    stuck_since: float = 0.0


@dataclass
class Pool:
    """The ready instances of a deployment; requests go to the one with the fewest in flight."""

    slots: list[Slot] = field(default_factory=list)
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    # Requests waiting for a slot under max_concurrent_requests_per_instance, oldest first.
    _waiters: deque[asyncio.Future[Slot]] = field(default_factory=deque)
    # Told when a request on a slot has timed out (the deployment's runner watches it).
    on_timeout: Callable[[Slot], None] | None = None

    def timed_out(self, slot: Slot, started: float) -> None:
        """A request sent to `slot` at `started` got no answer within the request timeout."""
        if not slot.stuck_since:
            slot.stuck_since = started
            if self.on_timeout is not None:
                self.on_timeout(slot)

    def pick(self) -> Slot | None:
        slots = self.slots
        if not slots:
            return None
        if len(slots) == 1:
            return slots[0]
        # Rotate the starting point so ties spread evenly instead of piling on the first slot.
        start = next(self._turn) % len(slots)
        best = slots[start]
        for offset in range(1, len(slots)):
            slot = slots[(start + offset) % len(slots)]
            if slot.inflight < best.inflight:
                best = slot
        return best

    def take(self, limit: int) -> Slot | None:
        """A slot with fewer than `limit` requests in flight, now, or None (no waiting)."""
        slot = self.pick()
        if slot is None or slot.inflight >= limit:
            return None
        slot.inflight += 1
        return slot

    async def acquire(self, limit: int, wait: float) -> Slot | None:
        """A slot with fewer than `limit` requests in flight, waiting up to `wait` seconds in
        line (first come, first served) when every instance is at the limit; None if none."""
        return self.take(limit) or await self.wait_turn(limit, wait)

    async def wait_turn(self, limit: int, wait: float) -> Slot | None:
        """`acquire` once `take` has found no slot: wait up to `wait` seconds in line for one.
        (The router calls the two itself, so a call that finds a slot at once awaits nothing.)"""
        if not self.slots or wait <= 0:
            return None
        waiter: asyncio.Future[Slot] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter, wait)
        except TimeoutError:
            return None
        finally:
            if not waiter.done():
                waiter.cancel()

    @property
    def waiting(self) -> int:
        """Requests in line for a slot."""
        return sum(1 for waiter in self._waiters if not waiter.done())

    def release(self, slot: Slot, limit: int) -> None:
        """A request on `slot` finished: hand its place to the longest waiting request."""
        slot.inflight -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.done():
                continue  # gave up waiting
            handed = slot if slot in self.slots and slot.inflight < limit else self.take(limit)
            if handed is None:
                self._waiters.appendleft(waiter)
                return
            if handed is slot:
                slot.inflight += 1
            waiter.set_result(handed)
            return
