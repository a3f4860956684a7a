"""Batch jobs on the venv runtime: workers run on a venv built from the deployment's conda_file,
holding a package the devserver's own Python lacks; built once, then reused from the cache."""

from __future__ import annotations

import importlib.util
import textwrap
from pathlib import Path
from typing import Any

import pytest
from support.devserver import RunningServer, wait_until
from support.wheels import make_wheel

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

PROBE = "epdev_batch_probe"
ENDPOINT = "venv-batch"

SCRIPT = f"""\
import os
import sys

import {PROBE}


def init():
    pass


def run(mini_batch):
    return [[os.path.basename(p), {PROBE}.answer(), sys.prefix] for p in mini_batch]
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert importlib.util.find_spec(PROBE) is None  # only the venv can have it
    root = tmp_path_factory.mktemp("venv-batch")
    wheel = make_wheel(root / "wheels", PROBE, "0.1", "def answer():\n    return 'probe-7'\n")
    (root / "code").mkdir()
    (root / "code" / "probe.py").write_text(SCRIPT)
    (root / "model").mkdir()
    (root / "conda.yaml").write_text(
        f"name: probe\ndependencies:\n  - pip\n  - pip:\n    - ./wheels/{wheel.name}\n"
    )
    (root / "endpoint.yml").write_text(f"name: {ENDPOINT}\n")
    (root / "deployment.yml").write_text(
        textwrap.dedent(
            f"""\
            name: probe
            endpoint_name: {ENDPOINT}
            type: model
            model: {{path: model}}
            code_configuration: {{code: code, scoring_script: probe.py}}
            environment:
              image: mcr.microsoft.com/azureml/openmpi4.1.0-ubuntu20.04:latest
              conda_file: conda.yaml
            settings: {{mini_batch_size: 2}}
            """
        )
    )
    inputs = root / "inputs"
    inputs.mkdir()
    for index in range(3):
        (inputs / f"item-{index}.txt").write_text(str(index))
    return root


@pytest.fixture(scope="module")
def server(epdev_server: EpdevServer, project: Path) -> RunningServer:
    server = RunningServer.of(epdev_server)
    server.cli("batch-endpoint", "create", "-f", str(project / "endpoint.yml"))
    return server


def run_job(server: RunningServer, project: Path, deployment: str = "probe") -> dict[str, Any]:
    args = ("batch-endpoint", "invoke", "-n", ENDPOINT, "-d", deployment)
    job = server.cli_json(*args, "--input", str(project / "inputs"))
    with server.api() as api:

        def done() -> dict[str, Any] | None:
            view: dict[str, Any] = api.get(f"/api/v1/jobs/{job['name']}").json()
            return view if view["status"] in ("Completed", "Failed", "Canceled") else None

        view: dict[str, Any] = wait_until(done, timeout=900, interval=0.5)
        view["log"] = api.get(f"/api/v1/jobs/{job['name']}/logs").json()
    return view


def test_docker_is_refused_for_batch(server: RunningServer, project: Path) -> None:
    result = server.cli(
        "batch-deployment",
        "create",
        "-f",
        str(project / "deployment.yml"),
        "--runtime",
        "docker",
        check=False,
    )
    assert result.returncode != 0
    assert "batch jobs run on the process or venv runtime, not docker" in result.stderr


def test_job_workers_run_in_the_deployments_venv(server: RunningServer, project: Path) -> None:
    created = server.cli_json(
        "batch-deployment", "create", "-f", str(project / "deployment.yml"), "--runtime", "venv"
    )
    assert created["runtime"] == "venv"
    first = run_job(server, project)
    assert first["status"] == "Completed", (first["error"], first["log"])
    rows = sorted(Path(first["outputs"]["file"]).read_text().splitlines())
    venvs = server.home / "cache" / "venvs"
    assert [row.split(",")[:2] for row in rows] == [[f"item-{i}.txt", "probe-7"] for i in range(3)]
    assert all(Path(row.split(",")[2]).parent == venvs for row in rows)
    assert "[build]" in str(first["log"])
    # The second job finds the venv in the cache: no build.
    second = run_job(server, project)
    assert second["status"] == "Completed", second["error"]
    assert "[build]" not in str(second["log"])
    assert "venv runtime: workers run on" in str(second["log"])


def test_a_failed_build_fails_the_job_with_pips_reason(
    server: RunningServer, project: Path, tmp_path: Path
) -> None:
    conda = tmp_path / "conda.yaml"
    conda.write_text("dependencies:\n  - pip:\n    - ./absent-0.1-py3-none-any.whl\n")
    text = (project / "deployment.yml").read_text()
    text = text.replace("name: probe", "name: broken").replace("conda.yaml", str(conda))
    text = text.replace("code: code", f"code: {project / 'code'}")
    yml = tmp_path / "broken.yml"
    yml.write_text(text.replace("path: model", f"path: {project / 'model'}"))
    server.cli("batch-deployment", "create", "-f", str(yml), "--runtime", "venv")
    view = run_job(server, project, "broken")
    assert view["status"] == "Failed"
    assert "absent-0.1-py3-none-any.whl" in view["error"]
