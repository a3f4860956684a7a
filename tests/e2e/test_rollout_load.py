"""Zero downtime under a steady load: traffic shifts, code updates, scaling and a killed instance.

The load is a few keep-alive clients in threads on loopback, for some seconds per test; what
rate the machine sustains is printed (pytest -s) and never asserted.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from support.devserver import RunningServer, wait_until
from support.load import steady_load, wait_for_requests
from support.sample_project import SampleProject, make_sample_project

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

SCRIPT = """\
def init():
    pass


def run(raw_data):
    return {"version": VERSION}


VERSION = 1
"""


@dataclass
class Target:
    server: RunningServer
    project: SampleProject
    endpoint: str
    uri: str
    key: str

    def deployment(self, name: str) -> dict[str, Any]:
        with self.server.api() as api:
            response = api.get(f"/api/v1/online-endpoints/{self.endpoint}/deployments/{name}")
        view: dict[str, Any] = response.json()
        return view

    def load(self, **options: Any) -> Any:
        return steady_load(self.uri, self.key, self.server.ca_bundle, **options)


@pytest.fixture(scope="module")
def target(epdev_server: EpdevServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    server = RunningServer.of(epdev_server)
    endpoint = "rollout-ep"
    project = make_sample_project(tmp_path_factory.mktemp("p"), endpoint=endpoint)
    for which in (1, 2):
        (project.code_dir(which) / "score.py").write_text(SCRIPT)
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    server.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
    server.cli("online-deployment", "create", "-f", str(project.green_yml))
    uri = server.cli_json("online-endpoint", "show", "-n", endpoint)["scoring_uri"]
    key = server.cli_json("online-endpoint", "get-credentials", "-n", endpoint)["primaryKey"]
    yield Target(server, project, endpoint, uri, key)
    server.cli("online-endpoint", "delete", "-n", endpoint, "-y", check=False)


def _traffic(target: Target, blue: int) -> None:
    # Through the API rather than the CLI: ten steps of a few seconds each would be a long test.
    with target.server.api() as api:
        response = api.patch(
            f"/api/v1/online-endpoints/{target.endpoint}",
            json={"traffic": {"blue": blue, "green": 100 - blue}},
        )
    assert response.status_code == 200, response.text
    assert response.json()["traffic"] == {"blue": blue, "green": 100 - blue}


def test_shifting_traffic_in_ten_steps_fails_no_request(target: Target) -> None:
    with target.load() as load:
        wait_for_requests(load, 50)
        for step in range(1, 11):
            _traffic(target, 100 - 10 * step)
            wait_for_requests(load, 20, at_least=0.5)
        served = dict(load.served_by)
        _traffic(target, 100)
        wait_for_requests(load, 20)
    print(f"traffic shift: {load.summary()}")
    assert load.failed == 0, load.summary()
    assert served["blue"] and served["green"], served


def test_updating_the_code_fails_no_request(target: Target) -> None:
    score = target.project.code_dir(1) / "score.py"
    with target.load(keep_bodies=True) as load:
        wait_for_requests(load, 50)
        score.write_text(SCRIPT.replace("VERSION = 1", "VERSION = 2"))
        target.server.cli("online-deployment", "update", "-f", str(target.project.blue_yml))
        wait_for_requests(load, 50)
    print(f"code update: {load.summary()}")
    assert load.failed == 0, load.summary()
    versions = [body["version"] for body in load.bodies]
    assert versions[0] == 1 and versions[-1] == 2
    assert target.deployment("blue")["provisioning_state"] == "Succeeded"


def test_scaling_one_to_three_to_one_fails_no_request(target: Target) -> None:
    def pids() -> list[int]:
        return [i["pid"] for i in target.deployment("blue")["health"]["instances"]]

    first = pids()
    assert len(first) == 1
    with target.load() as load:
        wait_for_requests(load, 50)
        target.server.cli(
            "online-deployment", "update", "-n", "blue", "-e", target.endpoint,
            "--set", "instance_count=3",
        )  # fmt: skip
        assert target.deployment("blue")["ready_instances"] == 3
        wait_for_requests(load, 50)
        target.server.cli(
            "online-deployment", "update", "-n", "blue", "-e", target.endpoint,
            "--set", "instance_count=1",
        )  # fmt: skip
        wait_for_requests(load, 50)
    print(f"scale 1-3-1: {load.summary()}")
    assert load.failed == 0, load.summary()
    # In place: the first instance served throughout, no new generation replaced it.
    assert pids() == first
    assert target.deployment("blue")["instance_count"] == 1


def test_kill_9_of_one_of_two_instances_fails_only_its_requests(target: Target) -> None:
    target.server.cli(
        "online-deployment", "update", "-n", "blue", "-e", target.endpoint,
        "--set", "instance_count=2",
    )  # fmt: skip
    victim = target.deployment("blue")["health"]["instances"][0]
    with target.load() as load:
        wait_for_requests(load, 50)
        os.kill(victim["pid"], signal.SIGKILL)

        def back() -> bool:
            view = target.deployment("blue")
            instance = view["health"]["instances"][0]
            return view["ready_instances"] == 2 and instance["pid"] not in (None, victim["pid"])

        # Back well within the probe budget (initial_delay + period x failure_threshold).
        wait_until(back, timeout=60)
        wait_for_requests(load, 50)
    print(f"kill -9 of one of two instances: {load.summary()}, failed {load.failed}")
    # max_concurrent_requests_per_instance is 1: one request was on the killed instance, and a
    # keep-alive connection to it may have been picked in the instant before it left the pool.
    assert load.failed <= 2, load.summary()
    assert target.deployment("blue")["health"]["instances"][0]["restarts"] == 1


def test_rotating_a_key_mid_load_fails_only_calls_with_the_old_key(target: Target) -> None:
    endpoint = target.endpoint
    keys = target.server.cli_json("online-endpoint", "get-credentials", "-n", endpoint)
    on_secondary = steady_load(target.uri, keys["secondaryKey"], target.server.ca_bundle)
    with on_secondary as load, target.load(threads=1) as on_primary:
        wait_for_requests(load, 50)
        target.server.cli(
            "online-endpoint", "regenerate-keys", "-n", endpoint, "--key-type", "primary"
        )
        before = on_primary.statuses[401]
        wait_for_requests(load, 50)
        wait_for_requests(on_primary, 20)
    print(f"key rotation, secondary key: {load.summary()}; old primary: {on_primary.summary()}")
    assert load.failed == 0, load.summary()
    # The old primary key worked until the rotation, then got 401 at once.
    assert on_primary.statuses[200] > 0 and on_primary.statuses[401] > before
    assert set(on_primary.statuses) == {200, 401}
    target.key = target.server.cli_json("online-endpoint", "get-credentials", "-n", endpoint)[
        "primaryKey"
    ]
