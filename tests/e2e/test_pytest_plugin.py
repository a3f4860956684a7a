"""A user's own project runs its integration tests through epdev's pytest plugin."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import requests

from epdev.devserver.pytest_plugin import Endpoint

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[1] / "sample_user_project"


def _copy(tmp_path: Path, name: str = "project") -> Path:
    target = tmp_path / name
    shutil.copytree(SAMPLE, target)
    return target


def _pytest(project: Path) -> subprocess.Popen[str]:
    # The user's environment: none of our EPDEV_* settings leak into their run.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EPDEV_", "PYTEST_"))}
    env["HOME"] = str(project / "user-home")
    return subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider"],
        cwd=project,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=240)
    return proc.returncode, out


def test_the_sample_projects_tests_pass(tmp_path: Path) -> None:
    code, out = _finish(_pytest(_copy(tmp_path)))
    assert code == 0, out
    assert "2 passed" in out


def test_a_failing_deployment_fails_the_test_with_its_logs(tmp_path: Path) -> None:
    project = _copy(tmp_path)
    score = project / "src" / "score.py"
    score.write_text(
        score.read_text().replace(
            "    global weights\n", "    global weights\n    raise OSError('weights are missing')\n"
        )
    )
    code, out = _finish(_pytest(project))
    assert code == 1, out
    assert "epdev could not apply" in out
    assert "deployment price-model/blue failed" in out
    assert "--- deployment logs ---" in out
    assert "OSError: weights are missing" in out


def test_two_runs_in_parallel_do_not_interfere(tmp_path: Path) -> None:
    runs = [_pytest(_copy(tmp_path, f"project-{i}")) for i in range(2)]
    results = [_finish(run) for run in runs]
    urls = []
    for code, out in results:
        assert code == 0, out
        urls.extend(re.findall(r"epdev server: (\S+)", out))
    assert len(set(urls)) == 2, urls


def test_the_plugin_serves_our_own_suite(
    epdev_endpoint: Callable[..., Endpoint], tmp_path: Path
) -> None:
    from support.sample_project import SAMPLE_REQUEST, make_sample_project

    project = make_sample_project(tmp_path / "p", endpoint="plugin-ep")
    with project.endpoint_yml.open("a") as handle:
        handle.write("traffic:\n  blue: 100\n")
    ep = epdev_endpoint(project.sample_dir)
    assert ep.name == "plugin-ep"
    assert sorted(ep.deployments) == ["blue", "green"]
    r = requests.post(
        ep.scoring_uri, json=SAMPLE_REQUEST, headers=ep.headers, verify=ep.ca_bundle, timeout=30
    )
    assert r.status_code == 200
    assert r.headers["azureml-model-deployment"] == "blue"
    assert (
        ep.invoke(SAMPLE_REQUEST, deployment="green").headers["azureml-model-deployment"] == "green"
    )
