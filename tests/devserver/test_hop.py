"""The router's hop client against a real HTTP peer on a Unix socket (and loopback TCP).

The peer is a small asyncio server in the test's own loop whose answers each test chooses by
path, so what goes over the wire (requests, connections opened and closed) can be checked.
"""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from epdev.devserver.hop import ConnectError, HopClient, HopError
from epdev.runtimes import unix_hosts

Answer = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]
"""Writes the answer to one request (its head and body); False closes the connection."""

OK = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\n\r\n{}"


class Peer:
    """What the server saw: each connection's requests, and how many connections ended."""

    def __init__(self) -> None:
        self.connections: list[list[bytes]] = []
        self.ended = 0
        self.answers: dict[bytes, Answer] = {}

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen: list[bytes] = []
        self.connections.append(seen)
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except asyncio.IncompleteReadError:
                    return
                length = 0
                for line in head.split(b"\r\n"):
                    name, _, value = line.partition(b":")
                    if name.lower() == b"content-length":
                        length = int(value)
                request = head + await reader.readexactly(length)
                seen.append(request)
                path = head.split(b" ")[1]
                answer = self.answers.get(path, _ok)
                if not await answer(request, writer):
                    return
        except asyncio.CancelledError:
            return  # the test's loop is ending
        finally:
            writer.close()
            self.ended += 1


async def _ok(request: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(OK)
    return True


@asynccontextmanager
async def unix_peer() -> AsyncIterator[tuple[Peer, str]]:
    peer = Peer()
    with tempfile.TemporaryDirectory(prefix="epdev-hop-") as folder:
        path = str(Path(folder) / "peer.sock")
        server = await asyncio.start_unix_server(peer.serve, path)
        host = unix_hosts.register(path)
        try:
            yield peer, f"http://{host}"
        finally:
            unix_hosts.forget(host)
            server.close()


async def _settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.01)


def test_calls_reuse_one_connection_and_pass_headers_and_body_as_they_are() -> None:
    async def scenario() -> None:
        async with unix_peer() as (peer, url):
            client = HopClient()
            for n in range(3):
                headers = {"content-type": "application/json", "x-request-id": f"id-{n}"}
                reply = await client.request("POST", url, "/score?a=1", headers, b"[1]", 5.0)
                assert reply.status == 200
                assert reply.body == b"{}"
                assert reply.headers == [
                    (b"content-type", b"application/json"),
                    (b"content-length", b"2"),
                ]
            assert len(peer.connections) == 1
            assert peer.connections[0][0] == (
                b"POST /score?a=1 HTTP/1.1\r\nHost: " + url[7:].encode() + b"\r\n"
                b"content-type: application/json\r\nx-request-id: id-0\r\n"
                b"Content-Length: 3\r\n\r\n[1]"
            )
            assert client.idle_connections(url) == 1
            # A GET has no body and says no length.
            await client.request("GET", url, "/swagger.json", {}, b"", 5.0)
            assert b"Content-Length" not in peer.connections[0][3]
            await client.close()
            await _settle()
            assert peer.ended == 1

    asyncio.run(scenario())


def test_a_large_body_goes_out_whole_and_a_line_break_in_a_header_never_does() -> None:
    async def echo_size(request: bytes, writer: asyncio.StreamWriter) -> bool:
        size = str(len(request.partition(b"\r\n\r\n")[2])).encode()
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(size), size))
        return True

    async def scenario() -> None:
        async with unix_peer() as (peer, url):
            peer.answers[b"/size"] = echo_size
            client = HopClient()
            body = bytes(range(256)) * 8192  # 2 MiB
            assert (await client.request("POST", url, "/size", {}, body, 5.0)).body == b"2097152"
            for bad in ({"x-a": "1\r\nx-b: 2"}, {"x-a": "1\rx-b: 2"}, {"x-a\n": "1"}):
                with pytest.raises(ValueError):
                    await client.request("POST", url, "/size", bad, b"", 5.0)
            assert len(peer.connections[0]) == 1
            await client.close()

    asyncio.run(scenario())


def test_an_answer_with_connection_close_ends_that_connection() -> None:
    async def close_after(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 503 Busy\r\nconnection: close\r\ncontent-length: 4\r\n\r\nbusy")
        return False

    async def scenario() -> None:
        async with unix_peer() as (peer, url):
            peer.answers[b"/close"] = close_after
            client = HopClient()
            reply = await client.request("POST", url, "/close", {}, b"x", 5.0)
            assert (reply.status, reply.body) == (503, b"busy")
            assert client.idle_connections(url) == 0
            assert (await client.request("POST", url, "/score", {}, b"x", 5.0)).status == 200
            assert len(peer.connections) == 2
            await client.close()

    asyncio.run(scenario())


def test_chunked_and_unframed_answers_are_read_whole() -> None:
    async def chunked(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        writer.write(b"2\r\nde\r\n0\r\n\r\n")
        return True

    async def until_close(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\n\r\nall of ")
        await writer.drain()
        writer.write(b"it")
        return False

    async def scenario() -> None:
        async with unix_peer() as (peer, url):
            peer.answers[b"/chunked"] = chunked
            peer.answers[b"/eof"] = until_close
            client = HopClient()
            assert (await client.request("POST", url, "/chunked", {}, b"", 5.0)).body == b"abcde"
            assert client.idle_connections(url) == 1
            assert (await client.request("POST", url, "/eof", {}, b"", 5.0)).body == b"all of it"
            assert client.idle_connections(url) == 0
            await client.close()

    asyncio.run(scenario())


def test_a_head_answer_has_no_body_whatever_length_it_declares() -> None:
    async def head(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1234\r\n\r\n")
        return True

    async def scenario() -> None:
        async with unix_peer() as (peer, url):
            peer.answers[b"/swagger.json"] = head
            client = HopClient()
            reply = await client.request("HEAD", url, "/swagger.json", {}, b"", 5.0)
            assert (reply.status, reply.body) == (200, b"")
            assert (await client.request("POST", url, "/score", {}, b"", 5.0)).status == 200
            await client.close()

    asyncio.run(scenario())


def test_a_dead_peer_is_a_connect_error_and_a_broken_answer_a_hop_error() -> None:
    async def hang_up(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\nabc")
        return False

    async def garble(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b"SPDY/9 what\r\n\r\n")
        return True

    async def scenario() -> None:
        client = HopClient()
        with tempfile.TemporaryDirectory(prefix="epdev-hop-") as folder:
            host = unix_hosts.register(str(Path(folder) / "gone.sock"))
            with pytest.raises(ConnectError):
                await client.request("POST", f"http://{host}", "/score", {}, b"", 5.0)
            unix_hosts.forget(host)
            # A socket name no longer registered: an instance that has stopped.
            with pytest.raises(ConnectError):
                await client.request("POST", f"http://{host}", "/score", {}, b"", 5.0)
        async with unix_peer() as (peer, url):
            peer.answers[b"/hang-up"] = hang_up
            peer.answers[b"/garble"] = garble
            with pytest.raises(HopError) as broken:
                await client.request("POST", url, "/hang-up", {}, b"", 5.0)
            assert not isinstance(broken.value, ConnectError)
            with pytest.raises(HopError):
                await client.request("POST", url, "/garble", {}, b"", 5.0)
            await _settle()
            assert client.idle_connections(url) == 0
            assert peer.ended == len(peer.connections) == 2
        await client.close()

    asyncio.run(scenario())


def test_a_call_past_its_timeout_or_cancelled_closes_its_connection() -> None:
    async def never(request: bytes, writer: asyncio.StreamWriter) -> bool:
        await asyncio.sleep(3600)
        return False

    async def scenario() -> None:
        async with unix_peer() as (peer, url):
            peer.answers[b"/never"] = never
            client = HopClient()
            with pytest.raises(TimeoutError):
                await client.request("POST", url, "/never", {}, b"", 0.05)
            call = asyncio.ensure_future(client.request("POST", url, "/never", {}, b"", 60))
            await _settle()
            call.cancel()
            with pytest.raises(asyncio.CancelledError):
                await call
            assert client.idle_connections(url) == 0
            # Each stuck call had a connection of its own, and the next call gets a fresh one.
            assert (await client.request("POST", url, "/score", {}, b"", 5.0)).status == 200
            assert len(peer.connections) == 3
            await client.close()

    asyncio.run(scenario())


def test_a_tcp_instance_is_reached_on_its_loopback_port() -> None:
    async def scenario() -> None:
        peer = Peer()
        server = await asyncio.start_server(peer.serve, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        url = f"http://127.0.0.1:{port}"
        client = HopClient()
        try:
            for _ in range(2):
                assert (await client.request("POST", url, "/score", {}, b"", 5.0)).status == 200
            assert len(peer.connections) == 1
            assert peer.connections[0][0].startswith(
                f"POST /score HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n".encode()
            )
        finally:
            await client.close()
            server.close()
        with pytest.raises(ConnectError):
            await HopClient().request("POST", url, "/score", {}, b"", 5.0)

    asyncio.run(scenario())
