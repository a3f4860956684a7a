"""scale_settings target_utilization: instances follow the in-flight load, up and back down."""

from __future__ import annotations

from pathlib import Path

import pytest
from support.devserver import RunningServer, wait_until
from support.load import steady_load, wait_for_requests
from support.sample_project import make_sample_project

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

SCRIPT = """\
import time


def init():
    pass


def run(raw_data):
    time.sleep(0.05)
    return "ok"
"""

SETTINGS = """\
request_settings:
  max_concurrent_requests_per_instance: 1
  max_queue_wait_ms: 5000
scale_settings:
  type: target_utilization
  min_instances: 1
  max_instances: 3
  polling_interval: 1
  target_utilization_percentage: 50
  scale_down_delay: 2
"""


def test_instances_follow_the_load(epdev_server: EpdevServer, tmp_path: Path) -> None:
    server = RunningServer.of(epdev_server)
    endpoint = "autoscale-ep"
    project = make_sample_project(tmp_path / "p", endpoint=endpoint)
    (project.code_dir(1) / "score.py").write_text(SCRIPT)
    project.blue_yml.write_text(project.blue_yml.read_text() + SETTINGS)
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    server.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
    uri = server.cli_json("online-endpoint", "show", "-n", endpoint)["scoring_uri"]
    key = server.cli_json("online-endpoint", "get-credentials", "-n", endpoint)["primaryKey"]

    def ready() -> int:
        view = server.cli_json("online-deployment", "show", "-n", "blue", "-e", endpoint)
        count: int = view["ready_instances"]
        return count

    assert ready() == 1
    # Four clients keep about four requests busy against one slot per instance: past 50% of
    # three instances, so it grows to the maximum.
    with steady_load(uri, key, server.ca_bundle, threads=4) as load:
        wait_until(lambda: ready() == 3, timeout=60, interval=0.5)
        wait_for_requests(load, 50)
    assert load.failed == 0, load.summary()
    wait_until(lambda: ready() == 1, timeout=60, interval=0.5)
    logs = server.cli("online-deployment", "get-logs", "-n", "blue", "-e", endpoint).stdout
    assert "autoscale:" in logs and "scaling down" in logs
