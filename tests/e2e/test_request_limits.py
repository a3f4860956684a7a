"""Request settings at the router: queueing and 429, 408, and the body limit's 413."""

from __future__ import annotations

import concurrent.futures
import time
from collections.abc import Iterator

import pytest
import requests
from support.devserver import RunningServer, running_server
from support.sample_project import make_sample_project

pytestmark = pytest.mark.slow

SLOW = """\
import json
import time


def init():
    pass


def run(raw_data):
    time.sleep(json.loads(raw_data).get("sleep", 0))
    return "done"
"""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    home = tmp_path_factory.mktemp("home")
    with running_server(home, "--max-request-mb", "0.01") as srv:
        project = make_sample_project(tmp_path_factory.mktemp("p"), endpoint="limits-ep")
        (project.code_dir(1) / "score.py").write_text(SLOW)
        blue = project.blue_yml
        blue.write_text(
            blue.read_text() + "request_settings:\n  request_timeout_ms: 1500\n"
            "  max_concurrent_requests_per_instance: 1\n  max_queue_wait_ms: 300\n"
        )
        srv.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
        srv.cli("online-deployment", "create", "-f", str(blue), "--all-traffic")
        yield srv


def _post(server: RunningServer, body: object) -> requests.Response:
    uri = server.cli_json("online-endpoint", "show", "-n", "limits-ep")["scoring_uri"]
    key = server.cli_json("online-endpoint", "get-credentials", "-n", "limits-ep")["primaryKey"]
    return requests.post(
        uri,
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        verify=server.ca_bundle,
        timeout=30,
    )


def test_a_full_instance_queues_then_answers_429(server: RunningServer) -> None:
    uri = server.cli_json("online-endpoint", "show", "-n", "limits-ep")["scoring_uri"]
    key = server.cli_json("online-endpoint", "get-credentials", "-n", "limits-ep")["primaryKey"]

    def call(sleep: float) -> requests.Response:
        return requests.post(
            uri,
            json={"sleep": sleep},
            headers={"Authorization": f"Bearer {key}"},
            verify=server.ca_bundle,
            timeout=30,
        )

    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        busy = pool.submit(call, 1.0)
        time.sleep(0.3)
        queued_short = pool.submit(call, 0)  # waits 300 ms at most, the busy call takes 1 s
        result = queued_short.result()
        assert busy.result().status_code == 200
    assert result.status_code == 429
    assert result.headers["retry-after"] == "1"
    assert "max_concurrent_requests_per_instance (1)" in result.json()["message"]
    assert "max_queue_wait_ms (300 ms)" in result.json()["message"]

    # A short wait in line is served, not refused.
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        first = pool.submit(call, 0.15)
        time.sleep(0.05)
        second = pool.submit(call, 0)
        assert first.result().status_code == 200
        assert second.result().status_code == 200


def test_a_slow_run_gets_408(server: RunningServer) -> None:
    r = _post(server, {"sleep": 3})
    assert r.status_code == 408
    assert "request_timeout_ms (1500 ms)" in r.json()["message"]


def test_a_body_over_the_limit_gets_413(server: RunningServer) -> None:
    r = _post(server, {"pad": "x" * 20_000})
    assert r.status_code == 413
    assert "larger than this devserver's limit" in r.json()["message"]


def test_the_control_plane_refuses_a_body_past_its_limit(server: RunningServer) -> None:
    # A spec is under 1 MiB; 9 MiB of description must not be read whole (nor parsed) at all.
    huge = b'{"spec": {"name": "big-ep", "description": "' + b"x" * (9 << 20) + b'"}}'
    with server.api() as api:
        declared = api.post("/api/v1/online-endpoints", content=huge)
        assert declared.status_code == 413, declared.text
        assert declared.json()["error"]["code"] == "PayloadTooLarge"

        def chunks() -> Iterator[bytes]:  # no content-length: counted as it comes
            for start in range(0, len(huge), 1 << 20):
                yield huge[start : start + (1 << 20)]

        streamed = api.post("/api/v1/online-endpoints", content=chunks())
        assert streamed.status_code == 413, streamed.text
        assert "larger than the control plane takes" in streamed.json()["error"]["message"]
        assert api.get("/api/v1/online-endpoints/big-ep").status_code == 404
