"""RunThreads: blocking calls on worker threads, their answers back on the loop."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from epdev.runtimes.worker import handoff
from epdev.runtimes.worker.handoff import RunThreads


def test_results_and_errors_come_back_to_the_loop() -> None:
    threads = RunThreads(1, "run")

    def fail() -> None:
        raise ValueError("boom")

    async def main() -> tuple[int, str]:
        loop_thread = threading.current_thread()
        where = await threads.call(threading.current_thread)
        assert where is not loop_thread and where.name == "run_0"
        value = await threads.call(lambda a, b: a + b, 2, 3)
        with pytest.raises(ValueError, match="boom"):
            await threads.call(fail)
        return value, threading.current_thread().name

    try:
        assert asyncio.run(main()) == (5, "MainThread")
    finally:
        threads.shutdown()


def test_one_thread_runs_calls_in_order_and_the_loop_stays_free() -> None:
    threads = RunThreads(1, "run")
    release = threading.Event()
    order: list[str] = []

    def slow() -> None:
        release.wait(10)
        order.append("slow")

    async def main() -> None:
        first = threads.call(slow)
        second = threads.call(order.append, "second")
        # The loop answers other work while the only thread is busy.
        await asyncio.sleep(0)
        order.append("loop")
        release.set()
        await asyncio.gather(first, second)

    try:
        asyncio.run(main())
    finally:
        threads.shutdown()
    assert order == ["loop", "slow", "second"]
    assert len(threads._threads) == 1


def test_threads_start_as_calls_need_them_up_to_size() -> None:
    threads = RunThreads(3, "run")
    barrier = threading.Barrier(3, timeout=10)

    async def main() -> set[str]:
        await threads.call(int, "1")
        assert len(threads._threads) == 1
        # Three calls that can only return together: each needs a thread of its own.
        names = await asyncio.gather(
            *(
                threads.call(lambda: (barrier.wait(), threading.current_thread().name)[1])
                for _ in range(3)
            )
        )
        return set(names)

    try:
        assert asyncio.run(main()) == {"run_0", "run_1", "run_2"}
    finally:
        threads.shutdown()


def test_a_call_cancelled_while_queued_is_skipped() -> None:
    threads = RunThreads(1, "run")
    release = threading.Event()
    ran: list[str] = []

    async def main() -> None:
        busy = threads.call(release.wait, 10)
        queued = threads.call(ran.append, "queued")
        queued.cancel()
        release.set()
        await busy
        assert await threads.call(len, "ab") == 2
        assert threads._in_flight == 0

    try:
        asyncio.run(main())
    finally:
        threads.shutdown()
    assert ran == []


def test_it_is_an_executor_too() -> None:
    with RunThreads(2, "run") as threads:
        assert threads.submit(pow, 2, 10).result(timeout=10) == 1024
        assert threads.submit(int, "ff", base=16).result(timeout=10) == 255

        async def main() -> int:
            return await asyncio.get_running_loop().run_in_executor(threads, abs, -4)

        assert asyncio.run(main()) == 4
    with pytest.raises(RuntimeError):
        threads.submit(int)


def test_call_uses_any_other_executor_as_it_is() -> None:
    async def main(executor: ThreadPoolExecutor) -> int:
        return await handoff.call(executor, abs, -7)

    with ThreadPoolExecutor(1) as executor:
        assert asyncio.run(main(executor)) == 7
