"""Malformed data-plane requests: whatever a caller sends, the router itself answers below 500.

The scoring script here never fails (it returns the body's length), so a 5xx could only come
from the router or the server in front of it. Requests go over raw TLS sockets, so they can be
as broken as a real client's bugs.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
import requests
from support.devserver import RunningServer, running_server
from support.sample_project import make_sample_project

pytestmark = pytest.mark.slow

LENGTH = """\
def init():
    pass


def run(raw_data):
    return len(raw_data)
"""


@dataclass
class Target:
    server: RunningServer
    host: str
    port: int
    path: str
    key: str

    def connect(self) -> ssl.SSLSocket:
        context = ssl.create_default_context(cafile=self.server.ca_bundle)
        raw = socket.create_connection((self.host, self.port), timeout=30)
        return context.wrap_socket(raw, server_hostname=self.host)

    def head(self, extra: str = "", *, method: str = "POST", length: int | None = 0) -> bytes:
        lines = [
            f"{method} {self.path} HTTP/1.1",
            f"Host: {self.host}:{self.port}",
            f"Authorization: Bearer {self.key}",
            "Connection: close",
        ]
        if length is not None:
            lines.append(f"Content-Length: {length}")
        return ("\r\n".join(lines) + "\r\n" + extra + "\r\n").encode("latin-1")

    def send(self, data: bytes) -> int | None:
        """The status of the answer to `data`, or None when the server closed without one."""
        with self.connect() as conn:
            conn.sendall(data)
            return _status(conn)

    def post(self, body: bytes, headers: str = "") -> int | None:
        return self.send(self.head(headers, length=len(body)) + body)

    def healthy(self) -> bool:
        response = requests.post(
            f"https://{self.host}:{self.port}{self.path}",
            json={"x": 1},
            headers={"Authorization": f"Bearer {self.key}"},
            verify=self.server.ca_bundle,
            timeout=30,
        )
        return response.status_code == 200


def _status(conn: ssl.SSLSocket) -> int | None:
    data = b""
    try:
        while b"\r\n" not in data:
            chunk = conn.recv(4096)
            if not chunk:
                break
            data += chunk
    except (ConnectionResetError, ssl.SSLError):
        pass
    if not data.startswith(b"HTTP/1.1 "):
        return None
    return int(data.split(b" ", 2)[1])


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    with running_server(tmp_path_factory.mktemp("home"), "--max-request-mb", "0.01") as server:
        project = make_sample_project(tmp_path_factory.mktemp("p"), endpoint="rough-ep")
        (project.code_dir(1) / "score.py").write_text(LENGTH)
        server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
        server.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
        uri = urlsplit(server.cli_json("online-endpoint", "show", "-n", "rough-ep")["scoring_uri"])
        key = server.cli_json("online-endpoint", "get-credentials", "-n", "rough-ep")["primaryKey"]
        assert uri.hostname is not None and uri.port is not None
        yield Target(server, uri.hostname, uri.port, uri.path, key)


BODIES = {
    "bad json": (b'{"data": [1, 2,', "Content-Type: application/json\r\n"),
    "not utf-8": (b"\xff\xfe\xfa\x00\xc3(", "Content-Type: application/json; charset=utf-8\r\n"),
    "gzip that is not": (b"not gzip at all", "Content-Encoding: gzip\r\n"),
    "unknown encoding": (b"x", "Content-Encoding: br, zstd, nonsense\r\n"),
    "latin-1 header": (b"{}", "X-Note: caf\xe9 cr\xe8me\r\n"),
    "long request id": (b"{}", f"x-request-id: {'r' * 5000}\r\n"),
    "odd deployment header": (b"{}", "azureml-model-deployment: ../../etc\r\n"),
    "many headers": (b"{}", "".join(f"X-H{i}: {i}\r\n" for i in range(500))),
    "huge header": (b"{}", f"X-Big: {'b' * 200_000}\r\n"),
    "body over the limit": (b"z" * 20_000, ""),
}


@pytest.mark.parametrize("case", list(BODIES))
def test_a_malformed_request_gets_no_5xx(target: Target, case: str) -> None:
    body, headers = BODIES[case]
    status = target.post(body, headers)
    assert status is None or status < 500, f"{case}: {status}"
    if case == "body over the limit":
        assert status == 413
    assert target.healthy()


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b"GARBAGE\r\n\r\n", id="not http"),
        pytest.param("{head}", id="bad content-length"),
        pytest.param("{chunked}", id="chunked over the limit"),
        pytest.param("{truncated}", id="body shorter than announced"),
        pytest.param("{put}", id="put"),
        pytest.param("{query}", id="huge query"),
    ],
)
def test_broken_framing_gets_no_5xx(target: Target, raw: bytes | str) -> None:
    if raw == "{head}":
        data = target.head(length=None) + b"Content-Length: -5\r\n\r\n"
        data = data.replace(b"\r\n\r\nContent-Length", b"\r\nContent-Length")
    elif raw == "{chunked}":
        chunk = b"y" * 4096
        body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(5)) + b"0\r\n\r\n"
        data = target.head("Transfer-Encoding: chunked\r\n", length=None) + body
    elif raw == "{truncated}":
        data = target.head(length=1000) + b"short"
    elif raw == "{put}":
        data = target.head(method="PUT", length=2) + b"{}"
    elif raw == "{query}":
        data = target.head(length=0).replace(
            target.path.encode(), target.path.encode() + b"?q=" + b"x" * 100_000
        )
    else:
        assert isinstance(raw, bytes)
        data = raw
    if raw == "{truncated}":
        # The client gives up halfway through its body: nothing to answer, and no harm done.
        with target.connect() as conn:
            conn.sendall(data)
            conn.shutdown(socket.SHUT_WR)
            status = _status(conn)
    else:
        status = target.send(data)
    assert status is None or status < 500, f"{raw!r}: {status}"
    if raw == "{chunked}":
        assert status == 413
    assert target.healthy()


def test_slow_clients_are_served_and_do_not_hold_up_others(target: Target) -> None:
    results: dict[str, int | None] = {}

    def dribble_body() -> None:
        body = b'{"slow": true}'
        with target.connect() as conn:
            conn.sendall(target.head(length=len(body)))
            for byte in body:
                conn.sendall(bytes([byte]))
                time.sleep(0.1)
            results["body"] = _status(conn)

    def dribble_head() -> None:
        # Headers that never finish: the server may drop the connection, never answer 5xx.
        with target.connect() as conn:
            head = target.head(length=0)
            for index in range(0, 40):
                conn.sendall(head[index : index + 1])
                time.sleep(0.05)
            results["head"] = None

    threads = [threading.Thread(target=dribble_body), threading.Thread(target=dribble_head)]
    for thread in threads:
        thread.start()
    try:
        # Others are served while the slow clients dribble.
        assert all(target.healthy() for _ in range(10))
    finally:
        for thread in threads:
            thread.join(timeout=60)
    assert results["body"] == 200
