"""The worker answers like Azure's own inference server (azmlinfsrv) for the same script.

Needs the `azmlinfsrv` program (pip install azureml-inference-server-http, in any environment):
found on PATH or named by EPDEV_AZMLINFSRV. Skipped when it is absent, as in CI.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from probe_script import SCRIPT
from runtime_helpers import LoopThread, Sink, create, make_spec, write_script

AZMLINFSRV = os.environ.get("EPDEV_AZMLINFSRV") or shutil.which("azmlinfsrv")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        AZMLINFSRV is None or not Path(AZMLINFSRV).exists(),
        reason="azmlinfsrv is not installed (set EPDEV_AZMLINFSRV to its path)",
    ),
]

JSON = {"content-type": "application/json"}
CASES: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("GET", "/", b"", {}),
    ("OPTIONS", "/", b"", {}),
    ("POST", "/", b"", {}),
    ("POST", "/score", "héllo".encode(), JSON),
    ("POST", "/score", b"data=1", {"content-type": "application/x-www-form-urlencoded"}),
    ("POST", "/score", b"\xff\xfe", JSON),
    ("GET", "/score?a=1&b=[1,2]&a=x&c=%C3%A9&d&e=null", b"", {}),
    ("POST", "/score", b"raise", JSON),
    ("POST", "/score", b"none", JSON),
    ("POST", "/score", b"set", JSON),
    ("POST", "/score", b"teapot", JSON),
    ("POST", "/score", b"flask", JSON),
    ("POST", "/score", b"flask-503", JSON),
    ("POST", "/score", b"werkzeug", JSON),
    ("POST", "/score", b"headers", {**JSON, "x-custom-thing": "v1", "x_dropped": "no"}),
    ("POST", "/score", b"x", {**JSON, "x-request-id": "my-id"}),
    ("POST", "/score", b"x", {**JSON, "x-request-id": "a" * 101}),
    ("POST", "/score", b"x", {**JSON, "x-ms-client-request-id": "client-1"}),
    ("POST", "/score", b"x", {**JSON, "x-ms-request-id": "legacy-1"}),
    ("POST", "/score", b"x", {**JSON, "x-ms-client-request-id": "c" * 101}),
    ("PUT", "/score", b"x", JSON),
    ("HEAD", "/score", b"", {}),
    ("OPTIONS", "/score", b"", {}),
    ("GET", "/nowhere", b"", {}),
    ("POST", "/score/", b"x", JSON),
]
ECHOED = ("x-request-id", "x-ms-request-id", "x-ms-client-request-id")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def servers(
    loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """(azmlinfsrv's URL, the worker's URL), both serving the probe script."""
    assert AZMLINFSRV is not None
    tmp_path = tmp_path_factory.mktemp("parity")
    code_dir = write_script(tmp_path / "code", SCRIPT)
    port = free_port()
    log = (tmp_path / "azmlinfsrv.log").open("wb")
    azure = subprocess.Popen(
        [AZMLINFSRV, "--entry_script", str(code_dir / "score.py"), "--port", str(port)],
        cwd=code_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    instance = create(make_spec(tmp_path, code_dir), Sink())
    try:
        loop_thread.run(instance.start(20))
        azure_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(azure_url + "/").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or azure.poll() is not None:
                pytest.fail(f"azmlinfsrv did not start; see {log.name}")
            time.sleep(0.2)
        yield azure_url, instance.url
    finally:
        os.killpg(azure.pid, signal.SIGTERM)
        azure.wait(10)
        log.close()
        loop_thread.run(instance.stop())


def observe(response: httpx.Response) -> dict[str, object]:
    headers = response.headers
    try:
        body: object = response.json()
    except ValueError:
        body = response.content
    if isinstance(body, dict):
        body.pop("Host", None)  # the two servers listen on different ports
        body.pop("Content-Length", None)
    return {
        "status": response.status_code,
        "body": body,
        "content-type": headers.get("content-type"),
        "run-function-failed": headers.get("x-ms-run-function-failed"),
        "timed": "x-ms-run-fn-exec-ms" in headers,
        "allow": sorted(headers.get("allow", "").split(", ")),
        "custom": (headers.get("x-custom"), headers.get("x-lib")),
        **{name: name in headers for name in ECHOED},
    }


@pytest.mark.parametrize(("method", "path", "body", "headers"), CASES, ids=lambda v: repr(v)[:40])
def test_same_answer_as_azmlinfsrv(
    servers: tuple[str, str], method: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    if body in (b"flask", b"flask-503", b"werkzeug"):
        pytest.importorskip(body.decode().partition("-")[0])
    azure_url, worker_url = servers
    azure = httpx.request(method, azure_url + path, content=body, headers=headers)
    ours = httpx.request(method, worker_url + path, content=body, headers=headers)
    assert observe(ours) == observe(azure)
    for name in ECHOED:
        if name in headers and name in azure.headers:
            assert ours.headers[name] == azure.headers[name]
