"""The worker's output: unbuffered stdio, Python logging on stderr, and the per-call access line."""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import sys
import threading
import time

FORMAT = "%(asctime)s %(levelname)s [%(process)d] %(name)s - %(message)s"
ACCESS_FLUSH_SECONDS = 0.05
"""How long an access line may wait to be written with the ones after it."""

logger = logging.getLogger("azmlinfsrv")
"""The worker's own messages, under the logger name azmlinfsrv uses in Azure's logs."""


class AccessLog:
    """The line each scoring call logs, as the worker's logger would write it (FORMAT, UTC
    time), made without a LogRecord and written a batch at a time: Logger.info and a flush per
    line cost a call more than the hop to the thread that runs the model."""

    def __init__(self) -> None:
        self._handler: logging.Handler | None = None
        self._formatter: logging.Formatter | None = None
        self._prefix = ""
        self._second = -1
        self._stamp = ""
        self._pending: list[str] = []
        self._scheduled = False
        self._lock = threading.Lock()

    def attach(self, handler: logging.Handler, formatter: logging.Formatter) -> None:
        self._handler = handler
        self._formatter = formatter
        self._prefix = f" INFO [{os.getpid()}] {logger.name} - "
        atexit.register(self.flush)

    def line(self, message: str) -> None:
        """Log `message` at INFO; call it on the event loop's thread."""
        handler = self._handler
        if not (
            handler is not None
            and logger.isEnabledFor(logging.INFO)
            and len(logger.handlers) == 1
            and logger.handlers[0] is handler
            and handler.formatter is self._formatter
            and handler.level <= logging.INFO
            and not logger.filters
            and not handler.filters
        ):
            # Someone (the script, say) changed the logger: let logging decide.
            logger.info("%s", message)
            return
        now = time.time()
        second = int(now)
        if second != self._second:
            self._stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(now))
            self._second = second
        text = f"{self._stamp},{int((now - second) * 1000):03d}{self._prefix}{message}\n"
        with self._lock:
            self._pending.append(text)
            if self._scheduled:
                return
            self._scheduled = True
        try:
            asyncio.get_running_loop().call_later(ACCESS_FLUSH_SECONDS, self.flush)
        except RuntimeError:
            self.flush()

    def flush(self) -> None:
        """Write the access lines waiting, in one write, before anything else the handler writes."""
        handler = self._handler
        if handler is None:
            return
        with handler.lock or threading.Lock():
            with self._lock:
                lines, self._pending = self._pending, []
                self._scheduled = False
            if not lines:
                return
            stream = getattr(handler, "stream", None)
            try:
                if stream is not None:
                    stream.write("".join(lines))
                    stream.flush()
            except (OSError, ValueError):
                pass


access = AccessLog()
"""The worker's access lines (one per scoring call)."""


class _Handler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stderr handler that writes the access lines still waiting before its own record."""

    def emit(self, record: logging.LogRecord) -> None:
        access.flush()
        super().emit(record)


def configure() -> None:
    """Make stdout/stderr write through and send log records (INFO and up) to stderr."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(line_buffering=True, write_through=True, errors="backslashreplace")
    formatter = logging.Formatter(FORMAT)
    formatter.converter = time.gmtime
    level = os.environ.get("AZUREML_LOG_LEVEL", "INFO").upper()
    if level not in logging.getLevelNamesMapping():
        level = "INFO"
    # The worker's logger has a handler of its own, so tracebacks of failed run() calls reach
    # the logs even when the script reconfigures the root logger.
    for target, propagate in ((logging.getLogger(), True), (logger, False)):
        handler = _Handler(sys.stderr)
        handler.setFormatter(formatter)
        target.addHandler(handler)
        target.setLevel(level)
        target.propagate = propagate
    access.attach(handler, formatter)
    # uvicorn's start/stop chatter is noise here; its errors still show.
    logging.getLogger("uvicorn.error").setLevel(logging.WARNING)
