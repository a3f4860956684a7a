"""Blocking calls that may last minutes, each on a thread of its own, awaited from the loop.

`asyncio.to_thread` shares one small executor (a few threads per core): log streams, container
waits and image builds that hold a thread for the life of an instance would starve it, and with
it every other `to_thread` call in the devserver.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from typing import TypeVar

from epdev.runtimes.instance import LogSink

T = TypeVar("T")


def start_thread(fn: Callable[[], T], name: str) -> asyncio.Future[T]:
    """Run `fn` on a new daemon thread; its result or exception settles the returned future.

    Cancelling the future does not stop `fn`: it runs to its end and its outcome is dropped.
    """
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(outcome)  # type: ignore[arg-type]

    def run() -> None:
        try:
            outcome = fn()
        except BaseException as exc:
            deliver(None, exc)
        else:
            deliver(outcome, None)

    def deliver(outcome: T | None, error: BaseException | None) -> None:
        # The loop may have closed while `fn` ran (devserver shutting down): nobody is waiting.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(settle, outcome, error)

    threading.Thread(target=run, name=name, daemon=True).start()
    return future


async def in_thread(fn: Callable[[], T], name: str) -> T:
    """Await `fn()` run on a thread of its own (see start_thread)."""
    return await start_thread(fn, name)


def loop_sink(sink: LogSink) -> LogSink:
    """A sink that other threads may call: each line reaches `sink` on the running loop."""
    loop = asyncio.get_running_loop()

    def deliver(stream: str, line: str) -> None:
        # A failing sink must not stop a log stream, and the loop logs nothing useful about it.
        with contextlib.suppress(Exception):
            sink(stream, line)

    def post(stream: str, line: str) -> None:
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(deliver, stream, line)

    return post
