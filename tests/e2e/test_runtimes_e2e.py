"""Deployments on the venv and Docker runtimes, driven through the devserver and the CLI."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest
import requests
from support.devserver import RunningServer, running_server, start_server, wait_until
from support.sample_project import SAMPLE_REQUEST, SampleProject, make_sample_project

from epdev.devserver.pytest_plugin import EpdevServer
from epdev.runtimes.container_orphans import LABEL_DEPLOYMENT, LABEL_HOME

pytestmark = pytest.mark.slow

SAMPLE_USER_PROJECT = Path(__file__).resolve().parents[1] / "sample_user_project"


@pytest.fixture(scope="module")
def server(epdev_server: EpdevServer) -> RunningServer:
    return RunningServer.of(epdev_server)


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


def _score(
    server: RunningServer, endpoint: str, deployment: str | None = None
) -> requests.Response:
    view = server.cli_json("online-endpoint", "show", "-n", endpoint)
    key = server.cli_json("online-endpoint", "get-credentials", "-n", endpoint)["primaryKey"]
    headers = {"Authorization": f"Bearer {key}"}
    if deployment:
        headers["azureml-model-deployment"] = deployment
    return requests.post(
        view["scoring_uri"],
        json=SAMPLE_REQUEST,
        headers=headers,
        verify=server.ca_bundle,
        timeout=60,
    )


def _containers(engine: docker.DockerClient, home: Path, deployment: str) -> list[str]:
    labels = [f"{LABEL_HOME}={os.path.realpath(home)}", f"{LABEL_DEPLOYMENT}={deployment}"]
    return [c.id for c in engine.containers.list(filters={"label": labels}, sparse=True)]


def test_venv_runtime_through_the_cli(server: RunningServer, tmp_path: Path) -> None:
    project = tmp_path / "user"
    shutil.copytree(SAMPLE_USER_PROJECT, project)
    server.cli("apply", "-f", str(project / "deploy"), "--runtime", "venv")
    key = server.cli_json("online-endpoint", "get-credentials", "-n", "price-model")["primaryKey"]
    uri = server.cli_json("online-endpoint", "show", "-n", "price-model")["scoring_uri"]
    r = requests.post(
        uri,
        json={"data": [[1, 1, 0]]},
        headers={"Authorization": f"Bearer {key}"},
        verify=server.ca_bundle,
        timeout=30,
    )
    assert r.json() == [1000 + 120.5 + 80.25]
    shown = server.cli_json("online-deployment", "show", "-n", "blue", "-e", "price-model")
    assert shown["runtime"] == "venv"
    server.cli("online-endpoint", "delete", "-n", "price-model", "--yes")


@pytest.mark.docker
def test_docker_deployment_scores_and_recovers(
    server: RunningServer, engine: docker.DockerClient, tmp_path: Path
) -> None:
    project = make_sample_project(tmp_path / "p", endpoint="docker-ep")
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    created = server.cli(
        "online-deployment",
        "create",
        "-f",
        str(project.blue_yml),
        "--all-traffic",
        "--runtime",
        "docker",
        "-o",
        "json",
        timeout=600,
    )
    assert json.loads(created.stdout)["runtime"] == "docker"
    r = _score(server, "docker-ep")
    assert r.status_code == 200
    assert all(
        math.isclose(a, b) for a, b in zip(r.json(), project.expected_predictions(1), strict=True)
    )
    logs = server.cli("online-deployment", "get-logs", "-n", "blue", "-e", "docker-ep").stdout
    assert "local substitute" in logs

    # Killed behind epdev's back: noticed, replaced, serving again.
    (first,) = _containers(engine, server.home, "blue")
    engine.containers.get(first).kill()
    wait_until(
        lambda: (ids := _containers(engine, server.home, "blue")) and ids != [first], timeout=60
    )
    wait_until(lambda: _score(server, "docker-ep").status_code == 200, timeout=60)
    logs = server.cli("online-deployment", "get-logs", "-n", "blue", "-e", "docker-ep").stdout
    assert "restarting" in logs and "is back" in logs

    # Deleting the endpoint removes its containers.
    server.cli("online-endpoint", "delete", "-n", "docker-ep", "--yes")
    assert _containers(engine, server.home, "blue") == []


@pytest.mark.docker
def test_containers_of_a_killed_devserver_are_removed_at_the_next_start(
    engine: docker.DockerClient, tmp_path: Path
) -> None:
    project = make_sample_project(tmp_path / "p", endpoint="orphan-ep")
    home = tmp_path / "home"
    server = start_server(home)
    try:
        server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
        server.cli(
            "online-deployment",
            "create",
            "-f",
            str(project.blue_yml),
            "--all-traffic",
            "--runtime",
            "docker",
            timeout=600,
        )
        (before,) = _containers(engine, home, "blue")
        server.kill(signal.SIGKILL)
        assert _containers(engine, home, "blue") == [before]  # containers outlive their parent

        server = start_server(home)
        wait_until(
            lambda: (
                server.cli_json("online-deployment", "show", "-n", "blue", "-e", "orphan-ep")[
                    "provisioning_state"
                ]
                == "Succeeded"
            ),
            timeout=120,
        )
        after = _containers(engine, home, "blue")
        assert len(after) == 1 and after != [before]
        assert _score(server, "orphan-ep").status_code == 200
    finally:
        server.cli("stop", check=False)
    assert _containers(engine, home, "blue") == []


def test_no_engine_fails_at_once_and_changes_nothing(
    tmp_path: Path, sample_project: SampleProject
) -> None:
    os.environ["DOCKER_HOST"] = "unix:///tmp/epdev-no-such-engine.sock"
    try:
        with running_server(tmp_path / "home") as srv:
            srv.cli("online-endpoint", "create", "-f", str(sample_project.endpoint_yml))
            result = srv.cli(
                "online-deployment",
                "create",
                "-f",
                str(sample_project.blue_yml),
                "--runtime",
                "docker",
                check=False,
            )
            assert result.returncode == 1
            assert "unix:///tmp/epdev-no-such-engine.sock" in result.stderr
            assert "--runtime process" in result.stderr
            assert srv.cli_json("online-deployment", "list", "-e", "my-endpoint") == []
            # Everything else keeps working.
            srv.cli(
                "online-deployment", "create", "-f", str(sample_project.blue_yml), "--all-traffic"
            )
            assert _score(srv, "my-endpoint").status_code == 200
    finally:
        del os.environ["DOCKER_HOST"]
