"""Drain: traffic changes, deployment deletes and `epdev stop` let in-flight requests finish."""

from __future__ import annotations

import concurrent.futures
import http.client
import socket
import ssl
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from support.devserver import EPDEV, RunningServer, running_server, wait_until
from support.sample_project import make_sample_project

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

SLOW = """\
import json
import time


def init():
    pass


def run(raw_data):
    time.sleep(json.loads(raw_data).get("sleep", 0))
    return "finished"
"""


def _deploy(server: RunningServer, root: Path, endpoint: str) -> tuple[str, str]:
    project = make_sample_project(root, endpoint=endpoint)
    for which in (1, 2):
        (project.code_dir(which) / "score.py").write_text(SLOW)
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    server.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
    uri = server.cli_json("online-endpoint", "show", "-n", endpoint)["scoring_uri"]
    key = server.cli_json("online-endpoint", "get-credentials", "-n", endpoint)["primaryKey"]
    return uri, key


def _in_flight(server: RunningServer, endpoint: str) -> bool:
    with server.api() as api:
        view = api.get(f"/api/v1/online-endpoints/{endpoint}/deployments/blue").json()
    return bool(view["metrics"]["in_flight"])


def _slow_call(server: RunningServer, uri: str, key: str) -> requests.Response:
    return requests.post(
        uri,
        json={"sleep": 3},
        headers={"Authorization": f"Bearer {key}"},
        verify=server.ca_bundle,
        timeout=60,
    )


def test_moving_traffic_and_deleting_the_deployment_let_its_request_finish(
    epdev_server: EpdevServer, tmp_path: Path
) -> None:
    server = RunningServer.of(epdev_server)
    endpoint = "drain-ep"
    uri, key = _deploy(server, tmp_path / "p", endpoint)
    project_green = tmp_path / "p/endpoints/online/managed/sample/green-deployment.yml"
    server.cli("online-deployment", "create", "-f", str(project_green))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        call = pool.submit(_slow_call, server, uri, key)
        wait_until(lambda: _in_flight(server, endpoint), timeout=30, interval=0.05)
        server.cli("online-endpoint", "update", "-n", endpoint, "--traffic", "blue=0 green=100")
        server.cli("online-deployment", "delete", "-n", "blue", "-e", endpoint, "-y")
        response = call.result()
    assert response.status_code == 200, response.text
    assert response.json() == "finished"
    names = server.cli_json("online-endpoint", "show", "-n", endpoint)["deployments"]
    assert names == ["green"]


def test_epdev_stop_lets_in_flight_requests_finish(tmp_path: Path) -> None:
    with running_server(tmp_path / "home") as server:
        uri, key = _deploy(server, tmp_path / "p", "stop-ep")
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            call = pool.submit(_slow_call, server, uri, key)
            wait_until(lambda: _in_flight(server, "stop-ep"), timeout=30, interval=0.05)
            stopped = subprocess.run(
                [*EPDEV, "stop"], env=server.env(), capture_output=True, text=True, timeout=60
            )
            response = call.result()
        assert stopped.returncode == 0, stopped.stderr
        assert response.status_code == 200, response.text
        assert response.json() == "finished"


def test_an_idle_pooled_connection_does_not_hold_up_stop(tmp_path: Path) -> None:
    """A client that keeps its connection in a pool and is not reading it (a `requests` call
    whose response is still held) never answers the TLS close; uvicorn would wait its whole
    graceful timeout on it."""
    with running_server(tmp_path / "home") as server:
        address = urlsplit(server.url)
        context = ssl.create_default_context(cafile=server.ca_bundle)
        raw = socket.create_connection((address.hostname, address.port), timeout=30)
        with context.wrap_socket(raw, server_hostname=address.hostname) as idle:
            idle.sendall(b"GET /api/v1/health HTTP/1.1\r\nHost: epdev\r\n\r\n")
            answer = http.client.HTTPResponse(idle)
            answer.begin()
            assert answer.status == 200 and answer.read()
            server.cli("stop")
            try:
                rest = idle.recv(65536)
            except OSError:
                rest = b""
        assert rest == b""
    log = (server.home / "logs" / "server.log").read_text()
    assert "timeout graceful shutdown exceeded" not in log, log
