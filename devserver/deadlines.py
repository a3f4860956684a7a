"""Deadlines for reading a request, so a client that trickles its headers or body (or sends
nothing) cannot hold a connection open forever.

uvicorn bounds only the idle time between requests. These protocols add what Apache's
mod_reqtimeout does by default: the headers must arrive within a timeout, and the body within a
timeout extended by one second for each `min_rate` bytes received, so a large upload at a sane
rate is never cut while one byte a second is. A request fully read is not timed: a slow answer
(a long scoring call, followed logs) is the application's business.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from typing import Any, Literal

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from epdev.devserver.idle_connections import ClosesIdleAtShutdown
from epdev.devserver.serveoptions import DEFAULT_READ_TIMEOUT

try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools is optional in uvicorn; h11 is always there
    HttpToolsProtocol = None  # type: ignore[assignment,misc]

log = logging.getLogger("epdev.devserver")

READ_TIMEOUT_ENV = "EPDEV_REQUEST_READ_TIMEOUT"
DEFAULT_MIN_RATE = 500  # bytes a second that extend the body's timeout by one second

Phase = Literal["headers", "body"]

_TIMEOUT_408 = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\nconnection: close\r\n"
    b"content-length: %d\r\n\r\n%s"
)


class _Deadline:
    """The clock of one connection's request being read."""

    read_timeout = DEFAULT_READ_TIMEOUT
    min_rate = DEFAULT_MIN_RATE

    transport: asyncio.Transport
    loop: asyncio.AbstractEventLoop
    client: tuple[str, int] | None

    def _deadline_init(self) -> None:
        self._phase: Phase | None = None
        self._phase_started = 0.0
        self._phase_bytes = 0
        self._timer: asyncio.TimerHandle | None = None

    def _begin(self, phase: Phase) -> None:
        if self._phase == phase:
            return
        self._phase, self._phase_started, self._phase_bytes = phase, time.monotonic(), 0
        self._arm()

    def _received(self, count: int) -> None:
        self._phase_bytes += count

    def _end(self) -> None:
        self._phase = None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _deadline(self) -> float:
        extra = self._phase_bytes / self.min_rate if self._phase == "body" else 0.0
        return self._phase_started + self.read_timeout + extra

    def _arm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        delay = max(0.0, self._deadline() - time.monotonic())
        self._timer = self.loop.call_later(delay, self._check)

    def _check(self) -> None:
        self._timer = None
        if self._phase is None or self.transport.is_closing():
            return
        if time.monotonic() < self._deadline():
            self._arm()  # the body's bytes moved the deadline on
            return
        who = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        message = (
            f"the request's {self._phase} did not arrive within the read timeout "
            f"({self.read_timeout:g} s"
            + (f", plus 1 s per {self.min_rate} bytes received)" if self._phase == "body" else ")")
        )
        log.info("closed the connection of %s: %s", who, message)
        if self._phase == "headers":
            # No request has started: the client can still be told why.
            body = b'{"error": {"code": "RequestTimeout", "message": "%s"}}' % message.encode()
            self.transport.write(_TIMEOUT_408 % (len(body), body))
        self._phase = None
        self.transport.close()


if HttpToolsProtocol is not None:

    class _HttpToolsDeadlines(_Deadline, ClosesIdleAtShutdown, HttpToolsProtocol):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self._deadline_init()

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            self._begin("headers")

        def connection_lost(self, exc: Exception | None) -> None:
            self._end()
            super().connection_lost(exc)

        def data_received(self, data: bytes) -> None:
            if self._phase == "body":
                self._received(len(data))
            super().data_received(data)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._begin("headers")

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._begin("body")

        def on_message_complete(self) -> None:
            super().on_message_complete()
            self._end()


class _H11Deadlines(_Deadline, ClosesIdleAtShutdown, H11Protocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline_init()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._begin("headers")

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._phase == "body":
            self._received(len(data))
        super().data_received(data)
        state = self.conn.their_state
        if state is h11.IDLE and self.conn.trailing_data[0]:
            self._begin("headers")  # part of the next request's headers
        elif state is h11.SEND_BODY:
            self._begin("body")
        elif state is not h11.IDLE:
            self._end()


def deadline_protocol(
    read_timeout: float = DEFAULT_READ_TIMEOUT, min_rate: int = DEFAULT_MIN_RATE
) -> type[asyncio.Protocol]:
    """uvicorn's HTTP/1.1 protocol (httptools when installed, as uvicorn picks) with deadlines,
    and idle connections closed at once at shutdown."""
    base: type[asyncio.Protocol] = (
        _HttpToolsDeadlines if HttpToolsProtocol is not None else _H11Deadlines
    )
    settings = {"read_timeout": float(read_timeout), "min_rate": int(min_rate)}
    return type(base.__name__, (base,), settings)


def read_timeout_from_env(default: float = DEFAULT_READ_TIMEOUT) -> float:
    """`EPDEV_REQUEST_READ_TIMEOUT` seconds when set (a positive number), else `default`."""
    raw = os.environ.get(READ_TIMEOUT_ENV)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise ValueError(f"{READ_TIMEOUT_ENV}={raw!r}: give a number of seconds above 0")
    return value
