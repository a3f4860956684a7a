"""The read deadlines on both of uvicorn's HTTP/1.1 protocols (httptools and h11), on a loopback
uvicorn serving a two-line ASGI app: trickled headers and bodies are cut, a steady body is not."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from epdev.devserver import deadlines

TIMEOUT = 0.5
GIVE_UP = 20.0

PROTOCOLS = ["h11"] + (["httptools"] if deadlines.HttpToolsProtocol is not None else [])


async def _echo_length(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    size = 0
    while True:
        message = await receive()
        size += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    body = str(size).encode()
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture(params=PROTOCOLS)
def port(request: pytest.FixtureRequest) -> Iterator[int]:
    base = deadlines._H11Deadlines if request.param == "h11" else deadlines._HttpToolsDeadlines
    protocol = type("Timed", (base,), {"read_timeout": TIMEOUT, "min_rate": 10_000})
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    config = uvicorn.Config(_echo_length, http=protocol, lifespan="off", log_config=None)
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        yield sock.getsockname()[1]
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def _send_slowly(port: int, data: bytes, gap: float) -> bytes:
    """Send `data` one byte per `gap` seconds; what came back once the server hung up."""
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP) as conn:
        conn.settimeout(gap)
        for byte in data:
            try:
                conn.sendall(bytes([byte]))
                answer = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return b""
            return answer
    raise AssertionError("the server read the whole trickle")


def test_trickled_headers_get_a_408(port: int) -> None:
    answer = _send_slowly(port, b"GET / HTTP/1.1\r\nX-Slow: " + b"a" * 200, 0.05)
    assert answer.startswith(b"HTTP/1.1 408"), answer


def test_a_trickled_body_is_cut(port: int) -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP) as conn:
        conn.sendall(head)
        conn.settimeout(0.05)
        for _ in range(400):
            try:
                conn.sendall(b"a")
                answer = conn.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                answer = b""
            assert answer == b"", answer
            return
    raise AssertionError("the server read the whole trickled body")


def test_a_steady_body_longer_than_the_timeout_is_answered(port: int) -> None:
    body = b"a" * 40_000  # about 1 s, twice the timeout: each 10 kB moves the deadline 1 s on
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40000\r\n\r\n")
        for offset in range(0, len(body), 4000):
            conn.sendall(body[offset : offset + 4000])
            time.sleep(0.1)
        answer = conn.recv(65536)
    assert answer.startswith(b"HTTP/1.1 200") and b"\r\n40000\r\n" in answer, answer


def test_keep_alive_requests_are_each_timed_afresh(port: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=GIVE_UP) as conn:
        for _ in range(3):
            conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            assert conn.recv(65536).startswith(b"HTTP/1.1 200")
            time.sleep(TIMEOUT / 2)


def test_the_env_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(deadlines.READ_TIMEOUT_ENV, "0")
    with pytest.raises(ValueError, match="above 0"):
        deadlines.read_timeout_from_env()
    monkeypatch.setenv(deadlines.READ_TIMEOUT_ENV, "2.5")
    assert deadlines.read_timeout_from_env() == 2.5
