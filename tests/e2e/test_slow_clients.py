"""Slow clients (issue 19): headers or a body trickling in one byte at a time, or nothing at all,
lose their connection after the read timeout; other calls, and a large body sent at a sane rate,
are not affected. Raw TLS sockets on loopback against a real devserver."""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.devserver import RunningServer, running_server

pytestmark = pytest.mark.slow

TIMEOUT = 2.0  # the devserver's read timeout in these tests
GIVE_UP = 30.0  # how long a test waits for the devserver to hang up before failing


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    env = {"EPDEV_REQUEST_READ_TIMEOUT": str(TIMEOUT)}
    with running_server(tmp_path_factory.mktemp("home"), env=env) as running:
        yield running


def _connect(server: RunningServer) -> ssl.SSLSocket:
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=server.ca_bundle)
    raw = socket.create_connection((host, int(port)), timeout=GIVE_UP)
    return context.wrap_socket(raw, server_hostname=host)


def _trickle(conn: ssl.SSLSocket, data: bytes) -> bytes:
    """Send `data` a byte every 0.2 s until the server hangs up; what it answered, if anything."""
    deadline = time.monotonic() + GIVE_UP
    conn.settimeout(0.2)
    for byte in data:
        if time.monotonic() > deadline:
            break
        try:
            conn.sendall(bytes([byte]))
        except OSError:
            break
        try:
            answer = conn.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            return b""
        return answer + _rest(conn)
    raise AssertionError(f"the devserver still reads a trickle after {GIVE_UP:g} s")


def _rest(conn: ssl.SSLSocket) -> bytes:
    conn.settimeout(5)
    chunks = []
    try:
        while chunk := conn.recv(65536):
            chunks.append(chunk)
    except OSError:
        pass
    return b"".join(chunks)


def _health(server: RunningServer) -> bytes:
    with _connect(server) as conn:
        conn.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        return _rest(conn)


def test_trickled_headers_time_out_while_other_calls_answer(server: RunningServer) -> None:
    answers: list[bytes] = []

    def others() -> None:
        for _ in range(5):
            answers.append(_health(server))
            time.sleep(0.2)

    with _connect(server) as conn:
        helper = threading.Thread(target=others)
        helper.start()
        answer = _trickle(conn, b"GET /api/v1/health HTTP/1.1\r\n" + b"X-Slow: " + b"a" * 1000)
        helper.join()
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert b"headers did not arrive within the read timeout" in answer
    assert len(answers) == 5
    assert all(a.startswith(b"HTTP/1.1 200") for a in answers), answers


def test_a_connection_that_sends_nothing_is_closed(server: RunningServer) -> None:
    with _connect(server) as conn:
        conn.settimeout(GIVE_UP)
        started = time.monotonic()
        answer = _rest_or_fail(conn)
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < GIVE_UP


def _rest_or_fail(conn: ssl.SSLSocket) -> bytes:
    try:
        return conn.recv(65536) + _rest(conn)
    except TimeoutError:
        raise AssertionError(f"the devserver kept an idle connection {GIVE_UP:g} s") from None


def test_a_trickled_body_times_out(server: RunningServer) -> None:
    head = (
        "POST /api/v1/validate HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Bearer {server.admin_token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 5000\r\n\r\n"
    ).encode()
    with _connect(server) as conn:
        conn.sendall(head)
        answer = _trickle(conn, b'{"kind": "online-endpoint", "spec": {"x": "' + b"a" * 4900)
    # The request had begun: the devserver hangs up without an answer.
    assert answer == b"", answer
    assert _health(server).startswith(b"HTTP/1.1 200")


def test_a_large_body_at_a_sane_rate_takes_longer_than_the_timeout(
    server: RunningServer, tmp_path: Path
) -> None:
    # 1 MiB at ~200 KiB/s: about 5 s, well past the 2 s timeout, far above 500 bytes a second.
    body = b'{"kind": "online-endpoint", "spec": {"name": "x' + b"a" * (1 << 20) + b'"}}'
    head = (
        "POST /api/v1/validate HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        f"Authorization: Bearer {server.admin_token}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with _connect(server) as conn:
        conn.sendall(head)
        started = time.monotonic()
        for offset in range(0, len(body), 20_000):
            conn.sendall(body[offset : offset + 20_000])
            time.sleep(0.1)
        assert time.monotonic() - started > TIMEOUT
        answer = _rest(conn)
    # Answered (the name is too long for a valid spec), not cut off.
    assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
