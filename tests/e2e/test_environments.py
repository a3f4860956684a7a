"""Environments through the CLI against a real devserver: `auto` choosing process or venv and
saying why, a forced process runtime naming what it lacks, a registered environment
(`epdev environment create|list|show|archive`) used by an online and a batch deployment, and a
curated Azure environment name."""

from __future__ import annotations

import importlib.util
import json
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from support.devserver import RunningServer, wait_until
from support.wheels import make_wheel

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

PROBE = "epdev_env_probe"
ENDPOINT = "envs-ep"
BATCH_ENDPOINT = "envs-batch"

SCORE = f"""\
import sys


def init():
    pass


def run(raw_data):
    try:
        import {PROBE}
    except ImportError:
        return {{"probe": None, "prefix": sys.prefix}}
    return {{"probe": {PROBE}.answer(), "prefix": sys.prefix}}
"""

BATCH_SCORE = f"""\
import os

import {PROBE}


def init():
    pass


def run(mini_batch):
    return [[os.path.basename(p), {PROBE}.answer()] for p in mini_batch]
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert importlib.util.find_spec(PROBE) is None  # only a venv can have it
    root = tmp_path_factory.mktemp("envs")
    wheel = make_wheel(root / "wheels", PROBE, "0.3", "def answer():\n    return 'env-probe'\n")
    (root / "code").mkdir()
    (root / "code" / "score.py").write_text(SCORE)
    (root / "batch-code").mkdir()
    (root / "batch-code" / "probe.py").write_text(BATCH_SCORE)
    (root / "model").mkdir()
    (root / "probe-conda.yaml").write_text(
        f"name: probe\ndependencies:\n  - python=3.11\n  - pip\n  - pip:\n"
        f"    - ./wheels/{wheel.name}\n"
    )
    (root / "host-conda.yaml").write_text(
        "name: host\ndependencies:\n  - python=3.11\n  - pip:\n    - click\n    - httpx\n"
    )
    (root / "env.yml").write_text(
        textwrap.dedent(
            """\
            $schema: https://azuremlschemas.azureedge.net/latest/environment.schema.json
            name: probe-env
            image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
            conda_file: probe-conda.yaml
            description: the probe wheel
            tags: {team: local}
            """
        )
    )
    (root / "endpoint.yml").write_text(f"name: {ENDPOINT}\nauth_mode: key\n")
    (root / "batch-endpoint.yml").write_text(f"name: {BATCH_ENDPOINT}\n")
    (root / "request.json").write_text("{}")
    inputs = root / "inputs"
    inputs.mkdir()
    for index in range(2):
        (inputs / f"item-{index}.txt").write_text(str(index))
    return root


@pytest.fixture(scope="module")
def server(epdev_server: EpdevServer, project: Path) -> RunningServer:
    server = RunningServer.of(epdev_server)
    server.cli("online-endpoint", "create", "-f", str(project / "endpoint.yml"))
    server.cli("batch-endpoint", "create", "-f", str(project / "batch-endpoint.yml"))
    return server


def online(project: Path, name: str, environment: str) -> Path:
    path = project / f"{name}.yml"
    path.write_text(
        f"name: {name}\nendpoint_name: {ENDPOINT}\nmodel: {{path: model}}\n"
        f"code_configuration: {{code: code, scoring_script: score.py}}\n"
        f"environment: {environment}\ninstance_type: Standard_DS3_v2\ninstance_count: 1\n"
    )
    return path


def create(server: RunningServer, yml: Path, *extra: str) -> tuple[dict[str, Any], str]:
    result = server.cli("online-deployment", "create", "-f", str(yml), *extra, timeout=600)
    return json.loads(result.stdout), result.stderr


def invoke(server: RunningServer, project: Path, name: str) -> Any:
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
    return json.loads(result.stdout)


def test_auto_runs_on_the_devserver_when_it_has_everything(
    server: RunningServer, project: Path
) -> None:
    view, told = create(server, online(project, "host", "{conda_file: host-conda.yaml}"))
    assert view["runtime"] == "process", told
    assert "runtime auto: process, because the devserver's Python already has everything" in told
    assert invoke(server, project, "host")["prefix"] == sys.prefix


def test_auto_builds_a_venv_when_the_devserver_lacks_a_package(
    server: RunningServer, project: Path
) -> None:
    view, told = create(server, online(project, "probe", "{conda_file: probe-conda.yaml}"))
    assert view["runtime"] == "venv", told
    assert "runtime auto: venv, because the devserver's Python lacks" in told
    assert "epdev-env-probe==0.3 (not installed)" in told
    assert "Resolved " in told and "Installed " in told  # uv's progress, as it builds
    assert invoke(server, project, "probe")["probe"] == "env-probe"


def test_an_update_asks_auto_again(server: RunningServer, project: Path) -> None:
    # Created on auto, it runs on the process runtime; its updated environment needs a venv.
    view, _ = create(server, online(project, "grows", "{conda_file: host-conda.yaml}"))
    assert view["runtime"] == "process"
    yml = online(project, "grows", "{conda_file: probe-conda.yaml}")
    result = server.cli("online-deployment", "update", "-f", str(yml), timeout=600)
    assert json.loads(result.stdout)["runtime"] == "venv", result.stderr
    assert "runtime auto: venv, because the devserver's Python lacks" in result.stderr
    assert invoke(server, project, "grows")["probe"] == "env-probe"


def test_a_forced_process_runtime_names_what_it_lacks(server: RunningServer, project: Path) -> None:
    yml = online(project, "forced", "{conda_file: probe-conda.yaml}")
    view, told = create(server, yml, "--runtime", "process")
    assert view["runtime"] == "process"
    notes = [line for line in told.splitlines() if "the process runtime runs on" in line]
    assert len(notes) == 1 and "epdev-env-probe==0.3 (not installed)" in notes[0]
    assert invoke(server, project, "forced")["probe"] is None


def test_a_registered_environment_serves_online_and_batch(
    server: RunningServer, project: Path
) -> None:
    created = server.cli_json("environment", "create", "-f", str(project / "env.yml"))
    assert (created["name"], created["version"]) == ("probe-env", "1")
    assert created["tags"] == {"team": "local"}
    assert created["conda_file"].endswith("environments/probe-env/1/conda.yaml")
    shown = server.cli_json("environment", "show", "-n", "probe-env", "-l", "latest")
    assert shown["id"] == "azureml:probe-env:1"
    listed = server.cli_json("environment", "list")
    assert [(e["name"], e["version"]) for e in listed] == [("probe-env", "1")]

    view, told = create(server, online(project, "registered", "azureml:probe-env:1"))
    assert view["runtime"] == "venv", told
    assert invoke(server, project, "registered")["probe"] == "env-probe"

    batch = project / "batch.yml"
    batch.write_text(
        f"name: probe\nendpoint_name: {BATCH_ENDPOINT}\ntype: model\nmodel: {{path: model}}\n"
        "code_configuration: {code: batch-code, scoring_script: probe.py}\n"
        "environment: azureml:probe-env@latest\nsettings: {mini_batch_size: 2}\n"
    )
    deployment = server.cli_json("batch-deployment", "create", "-f", str(batch))
    assert deployment["runtime"] == "venv"
    assert "runtime auto: venv" in deployment["runtime_notes"][0]
    args = ("batch-endpoint", "invoke", "-n", BATCH_ENDPOINT, "-d", "probe")
    job = server.cli_json(*args, "--input", str(project / "inputs"))
    with server.api() as api:

        def done() -> dict[str, Any] | None:
            view: dict[str, Any] = api.get(f"/api/v1/jobs/{job['name']}").json()
            return view if view["status"] in ("Completed", "Failed", "Canceled") else None

        finished = wait_until(done, timeout=600, interval=0.5)
    assert finished["status"] == "Completed", finished

    # Archived: @latest and list skip it; show by version still finds it.
    server.cli("environment", "archive", "-n", "probe-env", "-v", "1")
    assert server.cli_json("environment", "list") == []
    assert server.cli_json("environment", "show", "-n", "probe-env", "-v", "1")["archived"]
    gone = server.cli("environment", "show", "-n", "probe-env", check=False)
    assert gone.returncode != 0 and "archived" in gone.stderr


def test_a_curated_environment_maps_to_a_local_list(server: RunningServer, project: Path) -> None:
    curated = "azureml://registries/azureml/environments/minimal-py311-inference/labels/latest"
    view, told = create(server, online(project, "curated", curated), "--runtime", "venv")
    assert view["runtime"] == "venv"
    assert "is Azure's curated minimal-py311-inference" in told
    assert invoke(server, project, "curated")["probe"] is None
    unknown = online(project, "unknown", "azureml:AzureML-no-such-curated-thing:3")
    result = server.cli("online-deployment", "create", "-f", str(unknown), check=False)
    assert result.returncode != 0
    assert "curated Azure environment epdev has no local equivalent" in result.stderr


def test_an_environment_file_with_a_mistake_is_named(server: RunningServer, project: Path) -> None:
    bad = project / "bad-env.yml"
    bad.write_text("name: bad\nconda_file: missing.yaml\nimage: x\n")
    result = server.cli("environment", "create", "-f", str(bad), check=False)
    assert result.returncode != 0
    assert f"{bad}: conda_file:" in result.stderr and "does not exist" in result.stderr
