"""Liveness and readiness probes: poll an instance's health route as Azure's probes do.

Both probes send `GET /` to the worker (azmlinfsrv's health route, "Healthy"). The worker's ready
signal at start counts as the first passed readiness probe, so a new instance serves as soon as
`init()` is done; probing then begins `initial_delay` seconds after the instance was started.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import aiohttp

from epdev.devserver.hop import HopConnector
from epdev.specs.deployment import Probe


@dataclass
class ProbeCount:
    """Consecutive results of one probe against one instance, and the verdict they give."""

    probe: Probe
    passing: bool = True
    successes: int = 0
    failures: int = 0
    last_error: str | None = None

    def record(self, error: str | None) -> bool | None:
        """Count one result; the new verdict when it changes (True passing), else None."""
        if error is None:
            self.successes, self.failures = self.successes + 1, 0
            if not self.passing and self.successes >= self.probe.success_threshold:
                self.passing = True
                return True
            return None
        self.successes, self.failures, self.last_error = 0, self.failures + 1, error
        if self.passing and self.failures >= self.probe.failure_threshold:
            self.passing = False
            return False
        return None


_NO_CLIENT_TIMEOUT = aiohttp.ClientTimeout(total=None)


async def check(session: aiohttp.ClientSession, url: str, timeout: float) -> str | None:
    """None when `GET url` answers 200 within `timeout` seconds, else what went wrong."""
    try:
        # asyncio's own timeout, not aiohttp's: when a cancel lands as aiohttp's timer fires,
        # aiohttp can turn it into a TimeoutError (its nested timers each uncancel the task),
        # and a prober that swallowed its cancel would run forever.
        async with asyncio.timeout(timeout):
            async with session.get(url, timeout=_NO_CLIENT_TIMEOUT) as response:
                await response.read()
                if response.status != 200:
                    return f"GET / answered {response.status}"
    except TimeoutError:
        return f"GET / did not answer within {timeout:g} s"
    except aiohttp.ClientError as exc:
        return f"GET / failed: {type(exc).__name__}: {exc}"
    return None


async def watch(
    url: str,
    liveness: Probe,
    readiness: Probe,
    *,
    started: float,
    on_ready: Callable[[bool, str | None], None],
) -> str:
    """Probe the instance at `url` until its liveness probe fails `failure_threshold` times in a
    row, then return the last failure; readiness changes go to `on_ready` as they happen.

    `started` is the instance's start on the `time.monotonic` clock.
    """
    connector = HopConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:
        ready = asyncio.create_task(_readiness(session, url, readiness, started, on_ready))
        try:
            return await _liveness(session, url, liveness, started)
        finally:
            ready.cancel()
            await asyncio.gather(ready, return_exceptions=True)


async def _liveness(session: aiohttp.ClientSession, url: str, probe: Probe, started: float) -> str:
    count = ProbeCount(probe)
    async for error in _results(session, url, probe, started):
        if count.record(error) is False:
            return f"{count.failures} liveness probes failed in a row, the last: {error}"
    raise AssertionError("unreachable")  # pragma: no cover


async def _readiness(
    session: aiohttp.ClientSession,
    url: str,
    probe: Probe,
    started: float,
    on_ready: Callable[[bool, str | None], None],
) -> None:
    count = ProbeCount(probe)
    async for error in _results(session, url, probe, started):
        verdict = count.record(error)
        if verdict is not None:
            on_ready(verdict, count.last_error)


async def _results(
    session: aiohttp.ClientSession, url: str, probe: Probe, started: float
) -> AsyncIterator[str | None]:
    """One probe result per period, from `initial_delay` after the start, forever."""
    due = started + probe.initial_delay
    while True:
        now = time.monotonic()
        if due > now:
            await asyncio.sleep(due - now)
        # Periods run from one probe's start to the next, as the kubelet's do, but a probe that
        # overran its period does not cause a burst of catch-up probes.
        due = max(due, time.monotonic()) + probe.period
        yield await check(session, url + "/", float(probe.timeout))
