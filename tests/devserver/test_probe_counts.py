"""Probe verdicts from consecutive results, as the kubelet counts them, and probes that stop
when told to."""

from __future__ import annotations

import asyncio
import socket

import aiohttp
import pytest

from epdev.devserver.probes import ProbeCount, check
from epdev.specs.deployment import Probe


def test_failing_takes_failure_threshold_in_a_row() -> None:
    count = ProbeCount(Probe(failure_threshold=3))
    assert count.record("down") is None
    assert count.record("down") is None
    assert count.record(None) is None  # a pass starts the count again
    assert count.record("down") is None
    assert count.record("down") is None
    assert count.record("still down") is False
    assert count.last_error == "still down"
    assert count.record("down") is None  # the verdict is given once


def test_passing_again_takes_success_threshold_in_a_row() -> None:
    count = ProbeCount(Probe(failure_threshold=1, success_threshold=2))
    assert count.record("down") is False
    assert count.record(None) is None
    assert count.record("down") is None
    assert count.record(None) is None
    assert count.record(None) is True
    assert count.passing


@pytest.mark.slow
def test_a_probe_cancelled_as_its_timeout_fires_stays_cancelled() -> None:
    """The prober of an instance that failed or died is cancelled while its probes may be
    timing out; a cancel turned into a timeout would leave it probing forever (and the
    supervisor waiting on it, so the instance never restarted)."""

    async def race() -> int:
        silent = socket.socket()
        silent.bind(("127.0.0.1", 0))
        silent.listen(64)  # accepts connections into its backlog, never answers
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/"
        lost = 0
        try:
            async with aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True)
            ) as session:
                for attempt in range(100):

                    async def probe_forever() -> None:
                        while True:
                            await check(session, url, 0.05)

                    task = asyncio.create_task(probe_forever())
                    # Cancel at moments spread around the probe's own timeout.
                    await asyncio.sleep(0.05 + (attempt % 10) * 0.0005)
                    task.cancel()
                    done, _ = await asyncio.wait({task}, timeout=1)
                    if not done:
                        lost += 1
                        while not task.done():
                            task.cancel()
                            await asyncio.wait({task}, timeout=0.5)
        finally:
            silent.close()
        return lost

    assert asyncio.run(race()) == 0
