"""Handing blocking calls (run(), predict) to worker threads and their results back to the loop.

``loop.run_in_executor`` with a ``ThreadPoolExecutor`` costs a scoring call about 200 µs under
load: uvloop checks the callable for a coroutine on every call, and each call makes a
concurrent Future (a Condition and an RLock), chains it to an asyncio future, and wakes
threads through a semaphore. ``RunThreads`` keeps what matters (at most `size` calls at once,
first come first served, the loop free while they run) with one asyncio future per call, a
C queue to the threads and ``call_soon_threadsafe`` back.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from typing import Any, TypeVar

T = TypeVar("T")

# A job: the loop to answer on, the future to settle (asyncio's or concurrent's), the call.
_Job = tuple[asyncio.AbstractEventLoop | None, Any, Callable[..., Any], tuple[Any, ...]]


class RunThreads(Executor):
    """At most `size` threads, started as calls need them, running calls in arrival order."""

    def __init__(self, size: int, name: str) -> None:
        self.size = max(1, size)
        self.name = name
        self._queue: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        # Calls handed over and not yet answered; counted on the event loop's thread only.
        self._in_flight = 0
        self._lock = threading.Lock()  # submit() may come from any thread
        self._closed = False

    def call(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """`fn(*args)` on a worker thread; await the returned future on the running loop."""
        if self._closed:
            raise RuntimeError("cannot schedule new calls after shutdown")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._in_flight += 1
        if self._in_flight > len(self._threads) and len(self._threads) < self.size:
            self._start()
        self._queue.put((loop, future, fn, args))
        return future

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """The Executor protocol (loop.run_in_executor and the like): a concurrent Future."""
        if self._closed:
            raise RuntimeError("cannot schedule new calls after shutdown")
        future: Future[T] = Future()
        if len(self._threads) < self.size:
            self._start()
        call = (lambda: fn(*args, **kwargs)) if kwargs else fn
        self._queue.put((None, future, call, () if kwargs else args))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the threads once their current call returns; queued calls are dropped when
        `cancel_futures` (as ThreadPoolExecutor does), else run first."""
        self._closed = True
        if cancel_futures:
            while True:
                try:
                    job = self._queue.get_nowait()
                except queue.Empty:
                    break
                if job is not None:
                    _cancel(job)
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()

    def _start(self) -> None:
        with self._lock:
            if len(self._threads) >= self.size:
                return
            thread = threading.Thread(target=self._work, name=f"{self.name}_{len(self._threads)}")
            self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        get = self._queue.get
        while True:
            job = get()
            if job is None:
                return
            loop, future, fn, args = job
            if loop is None:
                _run_concurrent(future, fn, args)
                continue
            if future.done():  # cancelled while it waited
                _answer(loop, self._settle, future, None, None)
                continue
            try:
                result = fn(*args)
            except BaseException as exc:
                _answer(loop, self._settle, future, None, exc)
            else:
                _answer(loop, self._settle, future, result, None)
            del job, future, fn, args

    def _settle(self, future: asyncio.Future[Any], result: Any, exc: BaseException | None) -> None:
        self._in_flight -= 1
        if future.done():
            return
        if exc is None:
            future.set_result(result)
        else:
            future.set_exception(exc)


def call(executor: Executor, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """`fn(*args)` on `executor`, the cheap way when it is RunThreads."""
    if isinstance(executor, RunThreads):
        return executor.call(fn, *args)
    return asyncio.get_running_loop().run_in_executor(executor, fn, *args)


def _answer(
    loop: asyncio.AbstractEventLoop,
    settle: Callable[[asyncio.Future[Any], Any, BaseException | None], None],
    future: asyncio.Future[Any],
    result: Any,
    exc: BaseException | None,
) -> None:
    # The loop is closed once the server has stopped; nobody waits for the answer then.
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(settle, future, result, exc)


def _run_concurrent(future: Future[Any], fn: Callable[..., Any], args: tuple[Any, ...]) -> None:
    if not future.set_running_or_notify_cancel():
        return
    try:
        result = fn(*args)
    except BaseException as exc:
        future.set_exception(exc)
    else:
        future.set_result(result)


def _cancel(job: _Job) -> None:
    loop, future, _, _ = job
    if loop is None:
        future.cancel()
    # An asyncio future belongs to its loop, which has stopped serving by now.
