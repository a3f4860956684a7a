"""Docker deployments through the devserver and the CLI: the Python a conda file asks for picks
the base image of that version, and a delete returns only once the containers are gone."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import docker
import docker.errors
import pytest
from support.devserver import RunningServer, wait_until

from epdev.devserver.pytest_plugin import EpdevServer
from epdev.runtimes.baseimages import base_image_for
from epdev.runtimes.container_orphans import LABEL_DEPLOYMENT, LABEL_ENDPOINT, LABEL_HOME

pytestmark = [pytest.mark.slow, pytest.mark.docker]

ENDPOINT = "dockpy-ep"
UNPULLABLE = "mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest"

SCORE = """\
import sys
import time


def init():
    time.sleep(float(__import__("os").environ.get("INIT_SECONDS", "0")))


def run(raw_data):
    return {"python": sys.version.split()[0], "prefix": sys.prefix}
"""


@pytest.fixture(scope="module")
def engine() -> Iterator[docker.DockerClient]:
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dockpy")
    (root / "code").mkdir()
    (root / "code" / "score.py").write_text(SCORE)
    (root / "py313.yaml").write_text("name: py313\ndependencies:\n  - python=3.13\n  - pip\n")
    (root / "endpoint.yml").write_text(f"name: {ENDPOINT}\nauth_mode: key\n")
    (root / "request.json").write_text("{}")
    return root


@pytest.fixture(scope="module")
def server(epdev_server: EpdevServer, project: Path) -> RunningServer:
    server = RunningServer.of(epdev_server)
    server.cli("online-endpoint", "create", "-f", str(project / "endpoint.yml"))
    return server


def deployment(project: Path, name: str, environment: str, **extra: object) -> Path:
    path = project / f"{name}.yml"
    settings = {"instance_count": 1, **extra}
    path.write_text(
        f"name: {name}\nendpoint_name: {ENDPOINT}\n"
        "code_configuration: {code: code, scoring_script: score.py}\n"
        f"environment: {environment}\n"
        + "".join(f"{key}: {json.dumps(value)}\n" for key, value in settings.items())
    )
    return path


def containers(engine: docker.DockerClient, home: Path, name: str) -> list[str]:
    """Every container of deployment `name` of this home, running or not."""
    labels = [
        f"{LABEL_HOME}={os.path.realpath(home)}",
        f"{LABEL_ENDPOINT}={ENDPOINT}",
        f"{LABEL_DEPLOYMENT}={name}",
    ]
    # sparse: no per-container inspect, which fails for one removed between list and inspect.
    found = engine.containers.list(all=True, filters={"label": labels}, sparse=True)
    return [c.id or "" for c in found]


def invoke(server: RunningServer, project: Path, name: str) -> dict[str, str]:
    result = server.cli(
        "online-endpoint",
        "invoke",
        "-n",
        ENDPOINT,
        "-d",
        name,
        "--request-file",
        str(project / "request.json"),
    )
    answer: dict[str, str] = json.loads(result.stdout)
    return answer


def test_a_conda_file_asking_for_python_3_13_runs_on_3_13(
    server: RunningServer, project: Path, engine: docker.DockerClient
) -> None:
    trixie = base_image_for("3.13")
    try:
        engine.images.get(str(trixie))
    except docker.errors.ImageNotFound:
        message = f"{trixie} is missing: build it with scripts/build-base-image --suite trixie"
        if os.environ.get("EPDEV_REQUIRE_DOCKER") == "1":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    yml = deployment(project, "py313", f"{{image: {UNPULLABLE}, conda_file: py313.yaml}}")
    created = server.cli(
        "online-deployment", "create", "-f", str(yml), "--runtime", "docker", timeout=900
    )
    told = created.stderr
    assert f"using the local substitute {trixie} in its place (Python 3.13" in told, told
    answer = invoke(server, project, "py313")
    assert answer["python"].startswith("3.13."), answer
    assert answer["prefix"] == "/opt/epdev-env"
    logs = server.cli("online-deployment", "get-logs", "-n", "py313", "-e", ENDPOINT).stdout
    assert f"building on {trixie}" in logs or f"substitute {trixie}" in logs

    server.cli("online-deployment", "delete", "-n", "py313", "-e", ENDPOINT, "--yes")
    assert containers(engine, server.home, "py313") == []


def test_delete_returns_once_every_container_is_gone(
    server: RunningServer, project: Path, engine: docker.DockerClient
) -> None:
    yml = deployment(project, "gone", "{image: " + UNPULLABLE + "}", instance_count=2)
    server.cli("online-deployment", "create", "-f", str(yml), "--runtime", "docker", timeout=900)
    first, second = containers(engine, server.home, "gone")
    # One killed behind epdev's back is replaced; the dead one goes too, not only at delete.
    engine.containers.get(first).kill()
    wait_until(
        lambda: (now := containers(engine, server.home, "gone")) and first not in now, timeout=60
    )
    wait_until(lambda: len(containers(engine, server.home, "gone")) == 2, timeout=120)
    wait_until(
        lambda: (
            invoke(server, project, "gone")["python"] != ""
            and all(
                engine.containers.get(c).status == "running"
                for c in containers(engine, server.home, "gone")
            )
        ),
        timeout=120,
    )
    assert second in containers(engine, server.home, "gone")
    logs = server.cli("online-deployment", "get-logs", "-n", "gone", "-e", ENDPOINT).stdout
    assert "exited with exit code 137 (SIGKILL); it was killed from outside the devserver" in logs
    server.cli("online-deployment", "delete", "-n", "gone", "-e", ENDPOINT, "--yes")
    assert containers(engine, server.home, "gone") == []

    # Deleted while its containers are still starting (init() takes a while): none is left.
    slow = deployment(
        project,
        "starting",
        "{image: " + UNPULLABLE + "}",
        instance_count=2,
        environment_variables={"INIT_SECONDS": "20"},
    )
    server.cli("online-deployment", "create", "-f", str(slow), "--runtime", "docker", "--no-wait")
    wait_until(lambda: containers(engine, server.home, "starting"), timeout=300)
    server.cli("online-deployment", "delete", "-n", "starting", "-e", ENDPOINT, "--yes")
    assert containers(engine, server.home, "starting") == []
