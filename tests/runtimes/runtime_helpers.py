"""Helpers for the runtime tests: scripts on disk, a recording log sink, a background event loop."""

from __future__ import annotations

import asyncio
import textwrap
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from support.waiting import wait_until

from epdev.runtimes import InstanceSpec
from epdev.runtimes.process import ProcessInstance, ProcessRuntime

T = TypeVar("T")


class Sink:
    """A LogSink that records every (stream, line)."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str]] = []

    def __call__(self, stream: str, line: str) -> None:
        self.lines.append((stream, line))

    def text(self, stream: str | None = None) -> str:
        return "\n".join(line for s, line in list(self.lines) if stream in (None, s))

    def wait_for(self, needle: str, stream: str | None = None, timeout: float = 5.0) -> str:
        """The first recorded line containing `needle`, waiting for it to arrive."""

        def found() -> str | None:
            return next(
                (line for s, line in list(self.lines) if needle in line and stream in (None, s)),
                None,
            )

        return wait_until(
            found,
            timeout,
            interval=0.02,
            what=lambda: f"no line with {needle!r} in:\n{self.text()}",
        )


def write_script(folder: Path, body: str, name: str = "score.py") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(textwrap.dedent(body))
    return folder


def make_spec(
    tmp_path: Path,
    code_dir: Path,
    *,
    model_path: Path | None = None,
    max_concurrent_requests: int = 1,
    environment_variables: dict[str, str] | None = None,
    scoring_script: str = "score.py",
) -> InstanceSpec:
    return InstanceSpec(
        endpoint="ep",
        deployment="blue",
        index=0,
        code_dir=code_dir,
        scoring_script=scoring_script,
        model_path=model_path,
        environment_variables=environment_variables or {},
        max_concurrent_requests=max_concurrent_requests,
        work_dir=tmp_path / "work",
    )


def create(spec: InstanceSpec, sink: Sink) -> ProcessInstance:
    return ProcessRuntime().create_instance(spec, sink)


class LoopThread:
    """An event loop on a thread of its own, so one instance can serve a module's tests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()
