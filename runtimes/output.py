"""Turning an instance's output streams into lines for a LogSink."""

from __future__ import annotations

import asyncio
import logging
from collections import deque

from epdev.runtimes.instance import LogSink

MAX_LINE = 64 * 1024
"""Longer lines reach the sink in pieces of this many bytes."""
CHUNK = 64 * 1024

logger = logging.getLogger(__name__)


async def pump_lines(
    stream: asyncio.StreamReader,
    name: str,
    sink: LogSink,
    tail: deque[str] | None = None,
) -> None:
    """Send every line of `stream` to `sink` as (name, line) until EOF; keep the last in `tail`.

    Bytes that are not UTF-8 are replaced, a missing final newline is tolerated, and a failing
    sink is logged once and otherwise ignored, so nothing an instance prints can stop this.
    """
    pending = b""
    sink_failed = False

    def emit(raw: bytes) -> None:
        nonlocal sink_failed
        line = raw.decode("utf-8", "replace").removesuffix("\r")
        if tail is not None:
            tail.append(line)
        try:
            sink(name, line)
        except Exception:
            if not sink_failed:
                sink_failed = True
                logger.exception("the log sink failed on a line from %s", name)

    while True:
        chunk = await stream.read(CHUNK)
        if not chunk:
            break
        pending += chunk
        if b"\n" in chunk:
            *lines, pending = pending.split(b"\n")
            for line in lines:
                emit(line)
        while len(pending) >= MAX_LINE:
            emit(pending[:MAX_LINE])
            pending = pending[MAX_LINE:]
    if pending:
        emit(pending)
