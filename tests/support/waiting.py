"""Waiting in tests for something real to happen: one poll loop, failing one readable way."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(
    predicate: Callable[[], T],
    timeout: float = 30.0,
    interval: float = 0.1,
    what: str | Callable[[], str] = "",
) -> T:
    """`predicate()`'s first truthy value, polled every `interval` s for up to `timeout` s.

    `what` (or what it returns, asked only on failure) is added to the AssertionError, so a
    failed wait says what was seen instead.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = what() if callable(what) else what
            raise AssertionError(
                f"condition not met within {timeout} s" + (f": {detail}" if detail else "")
            )
        time.sleep(interval)
