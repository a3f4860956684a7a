"""The HTTP client for the hop from the devserver to its instances.

Instances of the process and venv runtimes listen on Unix sockets, named by hosts that
epdev.runtimes.unix_hosts registers; Docker's listen on loopback TCP ports.

`HopClient` is what the scoring router forwards with: keep-alive HTTP/1.1 connections pooled
per instance, a request written as one buffer, the answer parsed by httptools (the parser
uvicorn uses) and handed back whole with its headers as the raw bytes they came in. The router
passes on what it is given and reads every answer whole, so aiohttp's request and response
objects, URL parsing, header multidicts and streams were most of its cost per call and none
of its use. `HopConnector` is aiohttp's connector for the same hosts, for the health probes.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import urlsplit

import aiohttp
import httptools
from aiohttp.client_exceptions import UnixClientConnectorError

from epdev.runtimes import unix_hosts

if TYPE_CHECKING:
    from aiohttp.client_proto import ResponseHandler
    from aiohttp.client_reqrep import ClientRequest

IDLE_SECONDS = 30.0
"""How long a pooled connection may sit unused: well under the worker's keep-alive (75 s), so
an instance never closes a connection just as it is taken for a call."""

_WRITE_WHOLE = 64 * 1024
"""Bodies up to this size go out in one buffer with the head; larger ones are not copied."""


RawHeaders = list[tuple[bytes, bytes]]
"""An instance's response headers as the bytes they came in, in their order."""


class HopError(Exception):
    """The instance broke off the call or answered something that is not HTTP."""


class ConnectError(HopError):
    """No connection to the instance could be made, so nothing of the call was sent."""


class Response:
    """An instance's answer, read whole: headers as the raw bytes that came in."""

    __slots__ = ("body", "headers", "status")

    def __init__(self, status: int, headers: RawHeaders, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body


class HopClient:
    """Calls to instances by their URL (`http://host[:port]`), over pooled connections."""

    def __init__(self) -> None:
        self._origins: dict[str, _Origin] = {}
        self._closed = False

    async def request(
        self,
        method: str,
        url: str,
        target: str,
        headers: Mapping[str, str],
        body: bytes,
        timeout: float,
    ) -> Response:
        """`method target` on the instance at `url`, answered within `timeout` seconds.

        Raises ConnectError when the instance cannot be reached (nothing was sent), HopError
        when it breaks off or garbles the answer, TimeoutError past `timeout`. A connection
        whose call did not finish (a timeout, a cancelled caller) is closed, never reused.
        """
        if self._closed:
            raise HopError("the hop client is closed")
        origin = self._origins.get(url)
        if origin is None:
            origin = self._origins[url] = _Origin(url, self._origins)
        loop = asyncio.get_running_loop()
        lines = "".join([f"{name}: {value}\r\n" for name, value in headers.items()])
        # Values come from a parsed request, but a line break must never split one in two.
        if lines.count("\n") != len(headers) or lines.count("\r") != len(headers):
            raise ValueError("a header name or value holds a line break")
        if body or method in _BODY_METHODS:
            lines += f"Content-Length: {len(body)}\r\n"
        head = f"{method} {target} HTTP/1.1\r\nHost: {origin.host_header}\r\n{lines}\r\n"
        data = head.encode("latin-1")
        conn = origin.take(loop.time())
        if conn is None:
            started = loop.time()
            conn = await origin.connect(loop, timeout)
            timeout = max(0.0, timeout - (loop.time() - started))
        answer = conn.send(data, body, method == "HEAD")
        timer = loop.call_later(timeout, _expire, answer)
        try:
            response = await answer
        except BaseException:
            conn.close()  # where the answer stopped is unknown: the connection is spent
            raise
        finally:
            timer.cancel()
        if conn.reusable and not conn.is_closing():
            origin.put(conn, loop.time())
        else:
            conn.close()
        return response

    async def close(self) -> None:
        """Close every pooled connection; calls in flight end with HopError."""
        self._closed = True
        for origin in list(self._origins.values()):
            origin.close()
        self._origins.clear()

    def idle_connections(self, url: str) -> int:
        """How many connections to `url` wait in the pool (for tests and diagnostics)."""
        origin = self._origins.get(url)
        return 0 if origin is None else len(origin.idle)


_BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def _expire(answer: asyncio.Future[Response]) -> None:
    if not answer.done():
        answer.set_exception(TimeoutError())


class _Origin:
    """One instance: where to connect, and its idle connections (the most recent last)."""

    __slots__ = ("host_header", "idle", "open", "path", "port", "registry", "url")

    def __init__(self, url: str, registry: dict[str, _Origin]) -> None:
        parts = urlsplit(url)
        self.url = url
        self.registry = registry
        self.host_header = parts.netloc
        self.path = unix_hosts.path_for(parts.hostname or "")
        self.port = parts.port or 80
        self.idle: list[_Connection] = []
        self.open = 0

    def take(self, now: float) -> _Connection | None:
        idle = self.idle
        while idle:
            conn = idle.pop()
            if conn.idle_since > now - IDLE_SECONDS and not conn.is_closing():
                return conn
            conn.close()
        return None

    def put(self, conn: _Connection, now: float) -> None:
        if self.registry.get(self.url) is not self:
            conn.close()  # forgotten while this call ran (the client closed, say)
            return
        conn.idle_since = now
        self.idle.append(conn)

    async def connect(self, loop: asyncio.AbstractEventLoop, timeout: float) -> _Connection:
        parts = urlsplit(self.url)
        host = parts.hostname or ""
        if self.path is None and host.endswith(".invalid"):
            # The name of a socket whose instance has stopped: nothing to resolve it to.
            self._forget_if_unused()
            raise ConnectError(f"{self.url}: the instance's socket is gone")
        conn = _Connection(self)
        try:
            async with asyncio.timeout(timeout):
                if self.path is not None:
                    await loop.create_unix_connection(lambda: conn, self.path)
                else:
                    await loop.create_connection(lambda: conn, host, self.port)
        except OSError as exc:
            # Refused, or the socket is gone: the instance has just died.
            self._forget_if_unused()
            raise ConnectError(f"{self.url}: {exc}") from exc
        return conn

    def lost(self, conn: _Connection) -> None:
        if conn in self.idle:
            self.idle.remove(conn)
        self.open -= 1
        self._forget_if_unused()

    def _forget_if_unused(self) -> None:
        if self.open <= 0 and self.registry.get(self.url) is self:
            # Nothing open to this instance: forget it, so stopped instances do not pile up.
            del self.registry[self.url]

    def close(self) -> None:
        for conn in list(self.idle):
            conn.close()
        self.idle.clear()


class _Connection(asyncio.Protocol):
    """One keep-alive connection: one call at a time, its answer parsed as it arrives."""

    def __init__(self, origin: _Origin) -> None:
        self.origin = origin
        self.transport: asyncio.Transport | None = None
        self.parser = httptools.HttpResponseParser(self)
        self.answer: asyncio.Future[Response] | None = None
        self.head_only = False
        self.headers: list[tuple[bytes, bytes]] = []
        self.chunks: list[bytes] = []
        self.headers_done = False
        self.reusable = False
        self.idle_since = 0.0
        self.connected = False

    def is_closing(self) -> bool:
        return self.transport is None or self.transport.is_closing()

    def send(self, head: bytes, body: bytes, head_only: bool) -> asyncio.Future[Response]:
        transport = self.transport
        assert transport is not None
        answer: asyncio.Future[Response] = asyncio.get_running_loop().create_future()
        self.answer, self.head_only, self.reusable = answer, head_only, False
        if len(body) <= _WRITE_WHOLE:
            transport.write(head + body)
        else:
            transport.write(head)
            transport.write(body)
        return answer

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)
        self.connected = True
        self.origin.open += 1

    def data_received(self, data: bytes) -> None:
        if self.answer is None:
            # Bytes nobody asked for: the connection is out of step, so it is not kept.
            self.close()
            return
        try:
            self.parser.feed_data(data)
        except (httptools.HttpParserError, httptools.HttpParserUpgrade) as exc:
            self._fail(HopError(f"{self.origin.url}: not an HTTP answer ({exc})"))
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.connected:
            self.connected = False
            self.origin.lost(self)
        if self.answer is not None and not self.answer.done():
            if self.headers_done and not _framed(self.headers):
                # An answer of no declared length ends where the connection does.
                self._finish(False)
            else:
                self._fail(HopError(f"{self.origin.url}: the connection closed mid-answer"))
        self.transport = None

    # httptools callbacks

    def on_message_begin(self) -> None:
        self.headers, self.chunks, self.headers_done = [], [], False

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        self.headers_done = True
        if self.head_only and self.parser.get_status_code() >= 200:
            # The parser cannot know a HEAD answer has no body: done here, and the
            # connection is not reused, as the parser's idea of where it stands is wrong.
            self._finish(False)

    def on_body(self, body: bytes) -> None:
        self.chunks.append(body)

    def on_message_complete(self) -> None:
        if self.parser.get_status_code() < 200:
            return  # an interim answer (100 Continue): the real one follows
        if not self.head_only:
            self._finish(self.parser.should_keep_alive())

    def _finish(self, keep_alive: bool) -> None:
        answer = self.answer
        if answer is None or answer.done():
            return
        chunks = self.chunks
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        self.reusable = keep_alive
        self.answer = None
        answer.set_result(Response(self.parser.get_status_code(), self.headers, body))

    def _fail(self, exc: HopError) -> None:
        answer = self.answer
        self.answer = None
        if answer is not None and not answer.done():
            answer.set_exception(exc)


def _framed(headers: list[tuple[bytes, bytes]]) -> bool:
    """The answer says where it ends (a length or chunks) rather than at the close."""
    return any(name.lower() in (b"content-length", b"transfer-encoding") for name, _ in headers)


class HopConnector(aiohttp.TCPConnector):
    """aiohttp's TCP connector, except to the hosts that stand for an instance's Unix socket."""

    async def _create_connection(
        self, req: ClientRequest, traces: list[Any], timeout: aiohttp.ClientTimeout
    ) -> ResponseHandler:
        path = unix_hosts.path_for(req.host)
        if path is None:
            return await super()._create_connection(req, traces, timeout)
        try:
            async with asyncio.timeout(timeout.sock_connect):
                factory = cast("Callable[[], ResponseHandler]", self._factory)
                _, protocol = await self._loop.create_unix_connection(factory, path)
        except OSError as exc:
            # Refused or gone (the instance has just died): a connect error, as TCP's is.
            raise UnixClientConnectorError(path, req.connection_key, exc) from exc
        return protocol
