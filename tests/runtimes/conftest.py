"""Fixtures for the runtime tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from runtime_helpers import LoopThread


@pytest.fixture(scope="module")
def loop_thread() -> Iterator[LoopThread]:
    runner = LoopThread()
    yield runner
    runner.close()
