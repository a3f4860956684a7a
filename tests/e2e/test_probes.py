"""Probes and recovery: readiness gates traffic, liveness restarts, repeated failures crash-loop."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import pytest
import requests
from support.devserver import RunningServer, wait_until
from support.sample_project import make_sample_project

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

ECHO = """\
def init():
    pass


def run(raw_data):
    return "ok"
"""

# Dies in run() (as a segfault or os._exit would) and, once it has, fails in init() until the
# marker file is removed.
FRAGILE = """\
import os

MARKER = {marker!r}


def init():
    if os.path.exists(MARKER):
        raise RuntimeError("broken on purpose")


def run(raw_data):
    open(MARKER, "w").close()
    os._exit(3)
"""

SEGFAULT_ONCE = """\
import ctypes
import os

MARKER = {marker!r}


def init():
    pass


def run(raw_data):
    if not os.path.exists(MARKER):
        open(MARKER, "w").close()
        ctypes.string_at(0)
    return "ok"
"""

FAST_PROBES = """\
readiness_probe:
  initial_delay: 0
  period: 1
  timeout: 1
  failure_threshold: 2
liveness_probe:
  initial_delay: 4
  period: 1
  timeout: 1
  failure_threshold: {liveness_failures}
"""


def _deploy(
    server: RunningServer, tmp_path: Path, endpoint: str, script: str, extra: str = ""
) -> tuple[str, str]:
    project = make_sample_project(tmp_path / "p", endpoint=endpoint)
    (project.code_dir(1) / "score.py").write_text(script)
    project.blue_yml.write_text(project.blue_yml.read_text() + extra)
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    server.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
    uri = server.cli_json("online-endpoint", "show", "-n", endpoint)["scoring_uri"]
    key = server.cli_json("online-endpoint", "get-credentials", "-n", endpoint)["primaryKey"]
    return uri, key


def _health(server: RunningServer, endpoint: str) -> dict[str, Any]:
    with server.api() as api:
        view = api.get(f"/api/v1/online-endpoints/{endpoint}/deployments/blue").json()
    return {"ready": view["ready_instances"], **view["health"]}


def _replaced(server: RunningServer, endpoint: str, pid: int) -> dict[str, Any] | None:
    """The health once a new process serves in place of `pid`."""
    health = _health(server, endpoint)
    instance = health["instances"][0]
    fresh = instance["pid"] not in (None, pid) and instance["state"] == "Ready"
    return health if fresh and health["ready"] == 1 else None


def _post(server: RunningServer, uri: str, key: str) -> requests.Response:
    return requests.post(
        uri,
        json={},
        headers={"Authorization": f"Bearer {key}"},
        verify=server.ca_bundle,
        timeout=30,
    )


def test_readiness_gates_traffic_and_liveness_restarts(
    epdev_server: EpdevServer, tmp_path: Path
) -> None:
    server = RunningServer.of(epdev_server)
    endpoint = "probe-ep"
    uri, key = _deploy(server, tmp_path, endpoint, ECHO, FAST_PROBES.format(liveness_failures=8))
    pid = _health(server, endpoint)["instances"][0]["pid"]
    assert _post(server, uri, key).status_code == 200

    # A frozen worker answers no probe: out of the pool after two failed readiness probes...
    os.kill(pid, signal.SIGSTOP)
    try:
        gated = wait_until(lambda: (h := _health(server, endpoint))["ready"] == 0 and h, 30)
        assert gated["instances"][0]["state"] == "NotReady"
        assert "readiness probe failed" in gated["last_error"]
        refused = _post(server, uri, key)
        assert refused.status_code == 503
        assert "no ready instance" in refused.json()["message"]
    finally:
        os.kill(pid, signal.SIGCONT)
    # ... and back in it, the same process, once it answers again.
    back = wait_until(lambda: (h := _health(server, endpoint))["ready"] == 1 and h, 30)
    assert back["instances"][0]["pid"] == pid
    assert back["state"] == "Healthy"
    assert _post(server, uri, key).status_code == 200

    # Frozen for good: eight failed liveness probes in a row, and a new process replaces it.
    os.kill(pid, signal.SIGSTOP)

    restarted = wait_until(lambda: _replaced(server, endpoint, pid), timeout=90)
    assert restarted["instances"][0]["restarts"] == 1
    assert "liveness probe" in restarted["instances"][0]["last_error"]
    assert _post(server, uri, key).status_code == 200
    logs = server.cli("online-deployment", "get-logs", "-n", "blue", "-e", endpoint).stdout
    assert "failed its liveness probe" in logs and "is back" in logs


def test_repeated_failures_show_a_crash_loop_with_the_last_error(
    epdev_server: EpdevServer, tmp_path: Path
) -> None:
    server = RunningServer.of(epdev_server)
    endpoint = "crash-ep"
    marker = tmp_path / "broken"
    uri, key = _deploy(server, tmp_path, endpoint, FRAGILE.format(marker=str(marker)))
    # The call kills its instance: the caller gets a 502, and the restarts fail in init().
    assert _post(server, uri, key).status_code == 502
    looping = wait_until(lambda: (h := _health(server, endpoint))["state"] == "CrashLoop" and h, 60)
    assert looping["instances"][0]["state"] == "CrashLoop"
    assert "broken on purpose" in looping["last_error"]
    assert looping["instances"][0]["restarts"] >= 3
    table = server.cli("online-deployment", "show", "-n", "blue", "-e", endpoint, "-o", "table")
    assert "CrashLoop" in table.stdout
    shown = server.cli_json("online-deployment", "show", "-n", "blue", "-e", endpoint)
    assert "broken on purpose" in shown["health"]["last_error"]

    # Fixed: the next restart (within the backoff's longest pause) brings it back.
    marker.unlink()
    wait_until(lambda: _health(server, endpoint)["state"] == "Healthy", timeout=90)
    assert _health(server, endpoint)["ready"] == 1


def test_a_segfault_in_run_is_replaced(epdev_server: EpdevServer, tmp_path: Path) -> None:
    server = RunningServer.of(epdev_server)
    endpoint = "segv-ep"
    marker = tmp_path / "crashed-once"
    script = SEGFAULT_ONCE.format(marker=str(marker))
    uri, key = _deploy(server, tmp_path, endpoint, script)
    pid = _health(server, endpoint)["instances"][0]["pid"]
    assert _post(server, uri, key).status_code == 502

    health = wait_until(lambda: _replaced(server, endpoint, pid), timeout=60)
    assert "SIGSEGV" in health["instances"][0]["last_error"]
    assert health["instances"][0]["restarts"] == 1
    assert _post(server, uri, key).status_code == 200
