"""The worker answers like Azure's own inference server (azmlinfsrv) for the same script.

Covered: a plain run() (the probe script), run() decorated with inference-schema (standard,
numpy and pandas parameters; an "Inputs"-wrapped one), @rawhttp with AMLRequest/AMLResponse,
and /swagger.json, generated or read from the code folder; status, Content-Type and body are
compared byte for byte. Needs the `azmlinfsrv` program (pip install
azureml-inference-server-http, in any environment): found on PATH or named by
EPDEV_AZMLINFSRV; skipped when it is absent, as in CI. The schema cases also need
inference-schema and pandas in azmlinfsrv's Python, and are skipped without them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import contract_scripts
import httpx
import pytest
from probe_script import SCRIPT
from runtime_helpers import LoopThread, Sink, create, make_spec, write_script
from support.waiting import wait_until

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
    ("POST", "/score", b"paths", JSON),
    ("GET", "/swagger.json", b"", {}),
    ("GET", "/swagger.json?version=3", b"", {}),
    ("GET", "/swagger.json?version=3.1", b"", {}),
    ("GET", "/swagger.json?version=1", b"", {}),
    ("POST", "/swagger.json", b"", {}),
    ("OPTIONS", "/swagger.json", b"", {}),
]
ECHOED = ("x-request-id", "x-ms-request-id", "x-ms-client-request-id")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def serving(
    loop_thread: LoopThread, tmp_path: Path, script: str, files: dict[str, str] | None = None
) -> Iterator[tuple[str, str]]:
    """(azmlinfsrv's URL, the worker's URL), both serving `script` from the same code folder."""
    assert AZMLINFSRV is not None
    code_dir = write_script(tmp_path / "code", script)
    for name, text in (files or {}).items():
        (code_dir / name).write_text(text)
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
        loop_thread.run(instance.start(30))
        azure_url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            if azure.poll() is not None:
                pytest.fail(f"azmlinfsrv exited; see {log.name}")
            try:
                return httpx.get(azure_url + "/").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, 60, interval=0.2, what=f"azmlinfsrv did not start; see {log.name}")
        yield azure_url, instance.url
    finally:
        os.killpg(azure.pid, signal.SIGTERM)
        azure.wait(10)
        log.close()
        loop_thread.run(instance.stop())


@pytest.fixture(scope="module")
def servers(
    loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    """Both servers serving the probe script."""
    with serving(loop_thread, tmp_path_factory.mktemp("parity"), SCRIPT) as urls:
        yield urls


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


def _server_has(module: str) -> bool:
    """Whether azmlinfsrv's Python can import `module` (the ones its scripts need)."""
    assert AZMLINFSRV is not None
    python = Path(AZMLINFSRV).parent / "python"
    found = subprocess.run([python, "-c", f"import {module}"], capture_output=True, check=False)
    return found.returncode == 0


def same_bytes(azure: httpx.Response, ours: httpx.Response) -> None:
    """Status, Content-Type, body (byte for byte) and the script-facing headers are equal."""

    def seen(response: httpx.Response) -> dict[str, object]:
        headers = response.headers
        return {
            "status": response.status_code,
            "content-type": headers.get("content-type"),
            "body": response.content,
            "run-function-failed": headers.get("x-ms-run-function-failed"),
            "timed": "x-ms-run-fn-exec-ms" in headers,
            "allow": sorted(headers.get("allow", "").split(", ")),
            "multi": headers.get_list("x-multi"),
        }

    assert seen(ours) == seen(azure)


def both(
    urls: tuple[str, str], method: str, path: str, **kwargs: Any
) -> tuple[httpx.Response, httpx.Response]:
    azure_url, worker_url = urls
    return (
        httpx.request(method, azure_url + path, timeout=30, **kwargs),
        httpx.request(method, worker_url + path, timeout=30, **kwargs),
    )


SCHEMA_BODY = {
    "data": [[1, 2, 3], [4, 5, 6]],
    "frame": [{"a": 7, "b": "p"}, {"a": 8, "b": "q"}],
    "options": {"scale": 0.5, "label": "half"},
}
SCHEMA_CASES: list[tuple[str, str, bytes, dict[str, str]]] = [
    ("POST", "/score", json.dumps(SCHEMA_BODY).encode(), {**JSON, "x-probe": "p1"}),
    ("POST", "/score", json.dumps({k: SCHEMA_BODY[k] for k in ("data", "frame")}).encode(), JSON),
    ("POST", "/score", json.dumps({"data": [[1, 2, 3]]}).encode(), JSON),
    ("POST", "/score", json.dumps(SCHEMA_BODY).encode(), {"content-type": "text/plain"}),
    ("POST", "/score", json.dumps(SCHEMA_BODY).encode(), {"content-type": "application/x+json"}),
    ("POST", "/score", b"", JSON),
    ("POST", "/score", b"{not json", JSON),
    ("POST", "/score", b"[1, 2]", JSON),
    ("POST", "/score", b"\xff\xfe\xfa", JSON),
    ("POST", "/score", json.dumps({**SCHEMA_BODY, "data": "abc"}).encode(), JSON),
    ("GET", '/score?data=[[1,2,3]]&frame=[{"a":1,"b":"z"}]', b"", {}),
    ("GET", "/score?data=[[1,2,3]]", b"", {}),
    ("HEAD", "/score", b"", {}),
    ("OPTIONS", "/score", b"", {}),
    ("GET", "/swagger.json", b"", {}),
    ("GET", "/swagger.json?version=2.0", b"", {}),
    ("GET", "/swagger.json?version=3", b"", {}),
    ("GET", "/swagger.json?version=3.0", b"", {}),
    ("GET", "/swagger.json?version=3.1", b"", {}),
    ("GET", "/swagger.json?version=4", b"", {}),
    ("GET", "/swagger.json?version=", b"", {}),
]


@pytest.fixture(scope="module")
def schema_servers(
    loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    for module in ("inference_schema", "pandas"):
        if not _server_has(module):
            pytest.skip(f"azmlinfsrv's Python has no {module}")
    with serving(loop_thread, tmp_path_factory.mktemp("schema"), contract_scripts.SCHEMA) as urls:
        yield urls


@pytest.mark.parametrize(
    ("method", "path", "body", "headers"), SCHEMA_CASES, ids=lambda v: repr(v)[:50]
)
def test_inference_schema_run_gets_what_azmlinfsrv_gives_it(
    schema_servers: tuple[str, str], method: str, path: str, body: bytes, headers: dict[str, str]
) -> None:
    azure, ours = both(schema_servers, method, path, content=body, headers=headers)
    same_bytes(azure, ours)


@pytest.fixture(scope="module")
def inputs_servers(
    loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    if not _server_has("inference_schema"):
        pytest.skip("azmlinfsrv's Python has no inference_schema")
    with serving(loop_thread, tmp_path_factory.mktemp("inputs"), contract_scripts.INPUTS) as urls:
        yield urls


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "/score", b'{"Inputs": {"input1": [[1, 2], [3, 4.5]]}, "GlobalParameters": 2}'),
        ("POST", "/score", b'{"Inputs": {"input1": [[1, 2]]}}'),
        ("POST", "/score", b'{"GlobalParameters": 2}'),
        ("GET", "/swagger.json", b""),
        ("GET", "/swagger.json?version=3", b""),
    ],
    ids=lambda v: repr(v)[:50],
)
def test_inputs_wrapped_schema_matches_azmlinfsrv(
    inputs_servers: tuple[str, str], method: str, path: str, body: bytes
) -> None:
    azure, ours = both(inputs_servers, method, path, content=body, headers=JSON)
    same_bytes(azure, ours)


@pytest.fixture(scope="module")
def raw_servers(
    loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    with serving(loop_thread, tmp_path_factory.mktemp("raw"), contract_scripts.RAW) as urls:
        yield urls


UPLOAD = bytes(range(256)) * 3 + b"\r\n--not-a-boundary\r\n\r\n"
RAW_CASES: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/score?op=info&a=1&a=2&b=", {"headers": {"x-probe": "raw"}}),
    ("POST", "/score?op=info", {"json": {"k": [1, "é"]}}),
    ("POST", "/score?op=info", {"content": b"plain text", "headers": {"content-type": "text/x"}}),
    ("POST", "/score?op=info", {"content": b"{bad", "headers": JSON}),
    ("OPTIONS", "/score?op=info", {}),
    ("PUT", "/score?op=info", {}),
    ("POST", "/score?op=form", {"data": {"f": ["1", "2"], "g": "é"}}),
    (
        "POST",
        "/score?op=form",
        {
            "data": {"field": "value"},
            "files": [
                ("file", ("a b.png", UPLOAD, "image/png")),
                ("file", ("second.bin", b"", "application/octet-stream")),
                ("other", ("t.txt", "héllo".encode(), "text/plain")),
            ],
        },
    ),
    ("POST", "/score?op=echo", {"files": {"file": ("x.png", UPLOAD, "image/png")}}),
    ("GET", "/score?op=png", {}),
    ("HEAD", "/score?op=png", {}),
    ("GET", "/score?op=json", {}),
    ("GET", "/score?op=none", {}),
    ("GET", "/score?op=text", {}),
    ("GET", "/score?op=fail", {}),
    ("POST", "/score?op=strict-json", {"content": b"{}", "headers": {"content-type": "text/x"}}),
    ("GET", "/score?op=raise", {}),
    ("POST", "/score?op=other", {"json": [1, 2]}),
    ("GET", "/swagger.json", {}),
]


@pytest.mark.parametrize(("method", "path", "kwargs"), RAW_CASES, ids=lambda v: repr(v)[:50])
def test_rawhttp_run_answers_as_under_azmlinfsrv(
    raw_servers: tuple[str, str], method: str, path: str, kwargs: dict[str, Any]
) -> None:
    if "files" in kwargs:
        # The same multipart body to both, boundary included.
        request = httpx.Request(method, "http://x" + path, **kwargs)
        kwargs = {"content": request.read(), "headers": dict(request.headers)}
        kwargs["headers"].pop("host")
    azure, ours = both(raw_servers, method, path, **kwargs)
    same_bytes(azure, ours)


SWAGGER2 = {"swagger": "2.0", "info": {"title": "mine", "version": "7"}, "paths": {}}
SWAGGER3 = {"openapi": "3.0.1", "info": {"title": "mine", "version": "7"}, "paths": {"/é": {}}}


@pytest.fixture(scope="module")
def file_servers(
    loop_thread: LoopThread, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[str, str]]:
    files = {"swagger2.json": json.dumps(SWAGGER2, indent=4), "swagger3.json": json.dumps(SWAGGER3)}
    tmp_path = tmp_path_factory.mktemp("files")
    with serving(loop_thread, tmp_path, contract_scripts.UNDECORATED, files) as urls:
        yield urls


@pytest.mark.parametrize("query", ["", "?version=2", "?version=3", "?version=3.1", "?version=x"])
def test_swagger_files_in_the_code_folder_are_served_as_by_azmlinfsrv(
    file_servers: tuple[str, str], query: str
) -> None:
    azure, ours = both(file_servers, "GET", "/swagger.json" + query)
    same_bytes(azure, ours)
