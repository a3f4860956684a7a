"""Mirror traffic: copies to a candidate that never touch the caller, and a divergence report."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests
from support.devserver import RunningServer, wait_until
from support.sample_project import make_sample_project

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

LIVE = """\
import json


def init():
    pass


def run(raw_data):
    return {"answer": json.loads(raw_data)["x"] * 2}
"""

# The candidate differs on odd inputs and fails outright on 13, and is slower.
CANDIDATE = """\
import json
import time


def init():
    pass


def run(raw_data):
    time.sleep(0.05)
    x = json.loads(raw_data)["x"]
    if x == 13:
        raise ValueError("unlucky")
    return {"answer": x * 2 if x % 2 == 0 else x * 3}
"""


def test_mirror_copies_are_compared_and_never_change_the_answer(
    epdev_server: EpdevServer, tmp_path: Path
) -> None:
    server = RunningServer.of(epdev_server)
    project = make_sample_project(tmp_path / "p", endpoint="mirror-ep")
    project.code_dir(1).joinpath("score.py").write_text(LIVE)
    project.code_dir(2).joinpath("score.py").write_text(CANDIDATE)
    # Room for the slow candidate to take most copies: a full candidate skips them instead.
    with project.green_yml.open("a") as green:
        green.write("request_settings:\n  max_concurrent_requests_per_instance: 16\n")
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    server.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
    server.cli("online-deployment", "create", "-f", str(project.green_yml))

    refused = server.cli(
        "online-endpoint", "update", "-n", "mirror-ep", "--mirror-traffic", "blue=10", check=False
    )
    assert refused.returncode == 1 and "live traffic" in refused.stderr
    refused = server.cli(
        "online-endpoint", "update", "-n", "mirror-ep", "--mirror-traffic", "green=60", check=False
    )
    assert refused.returncode == 1 and "at most 50%" in refused.stderr
    server.cli("online-endpoint", "update", "-n", "mirror-ep", "--mirror-traffic", "green=50")

    uri = server.cli_json("online-endpoint", "show", "-n", "mirror-ep")["scoring_uri"]
    key = server.cli_json("online-endpoint", "get-credentials", "-n", "mirror-ep")["primaryKey"]
    headers = {"Authorization": f"Bearer {key}"}
    with requests.Session() as session:
        for x in range(100):
            started = time.monotonic()
            r = session.post(
                uri, json={"x": x}, headers=headers, verify=server.ca_bundle, timeout=30
            )
            assert r.status_code == 200 and r.json() == {"answer": x * 2}
            assert r.headers["azureml-model-deployment"] == "blue"
            assert time.monotonic() - started < 1
        # Calls that name a deployment are never mirrored.
        for x in range(20):
            session.post(
                uri,
                json={"x": x},
                headers={**headers, "azureml-model-deployment": "blue"},
                verify=server.ca_bundle,
                timeout=30,
            )

    def settled() -> dict[str, object] | None:
        report = server.cli_json("online-endpoint", "mirror-report", "-n", "mirror-ep")
        done = report["compared"] + report["failed"] == report["sent"]
        return report if done and report["sent"] else None

    report = wait_until(settled, timeout=20)
    assert report["mirror_traffic"] == {"green": 50}
    copies = report["sent"] + report["skipped_busy"]
    # 50% of 100 traffic-routed calls: 50 with a standard deviation of 5; header calls add none.
    assert 28 <= copies <= 72, report
    assert report["sent_to"] == {"green": report["sent"]}
    # Odd inputs differ in the body; 13 fails with a 500 when it is mirrored.
    assert report["body_differs"] >= 1
    assert 0.2 <= report["body_differs_rate"] <= 0.8
    example = report["examples"][0]
    assert example["live"]["deployment"] == "blue" and example["mirror"]["deployment"] == "green"

    server.cli("online-endpoint", "update", "-n", "mirror-ep", "--mirror-traffic", "green=0")
    assert server.cli_json("online-endpoint", "show", "-n", "mirror-ep")["mirror_traffic"] == {}
    server.cli("online-endpoint", "update", "-n", "mirror-ep", "--traffic", "blue=100 green=0")
    server.cli("online-endpoint", "delete", "-n", "mirror-ep", "--yes")
