"""Scripts written for `az ml`, run unmodified with `az` standing for epdev.

Each folder under az_samples/ is laid out as Azure's azureml-examples/cli samples are, with a
`deploy.sh` in the style of Azure's `cli/deploy-*.sh` scripts. The script runs with bash in a
copy of its folder, `az` on PATH as a two-line wrapper around epdev, the session devserver's
home in EPDEV_HOME, its CA bundle in CURL_CA_BUNDLE and a fresh ENDPOINT_NAME. The sample's
model is built first by its `make_model.py`, when it has one (no binary files in git).
"""

from __future__ import annotations

import os
import runpy
import shutil
import subprocess
import sys
import uuid
import warnings
from pathlib import Path

import pytest
from support.devserver import RunningServer

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

SAMPLES = Path(__file__).parent / "az_samples"
TESTS = Path(__file__).parent.parent
SCRIPT_TIMEOUT = 900


def _samples() -> list[str]:
    return sorted(p.parent.name for p in SAMPLES.glob("*/deploy.sh"))


@pytest.fixture(scope="module")
def server(epdev_server: EpdevServer) -> RunningServer:
    return RunningServer.of(epdev_server)


@pytest.fixture(scope="module")
def az_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding `az`: two lines that run epdev with the same arguments."""
    folder = tmp_path_factory.mktemp("bin")
    wrapper = folder / "az"
    epdev = f'"{sys.executable}" -m epdev.devserver.cli.entry'
    wrapper.write_text(f'#!/usr/bin/env bash\nexec {epdev} "$@"\n')
    wrapper.chmod(0o755)
    return folder


def _environment(server: RunningServer, az_bin: Path, sample: str) -> dict[str, str]:
    env = server.env()
    env["PATH"] = f"{az_bin}{os.pathsep}{env.get('PATH', '')}"
    env["CURL_CA_BUNDLE"] = server.ca_bundle or ""
    env["ENDPOINT_NAME"] = f"{sample[:20]}-{uuid.uuid4().hex[:8]}".lower()
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(TESTS), env.get("PYTHONPATH")]))
    return env


def _show(result: subprocess.CompletedProcess[str]) -> str:
    return (
        f"exit {result.returncode}\n--- stdout ---\n{result.stdout}\n"
        f"--- stderr ---\n{result.stderr}"
    )


def _make_model(folder: Path) -> None:
    """Run the sample's make_model.py as a script, in its folder, in this process: scikit-learn
    and MLflow then load once for every sample rather than once a sample (3 s of CPU each)."""
    with pytest.MonkeyPatch.context() as patch, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the libraries' own deprecation notes are not under test
        patch.chdir(folder)
        patch.setattr(sys, "argv", ["make_model.py"])
        runpy.run_path("make_model.py", run_name="__main__")


@pytest.mark.parametrize("sample", _samples())
def test_az_sample_runs_unmodified(
    sample: str, server: RunningServer, az_bin: Path, tmp_path: Path
) -> None:
    folder = tmp_path / sample
    shutil.copytree(SAMPLES / sample, folder)
    env = _environment(server, az_bin, sample)
    if (folder / "make_model.py").is_file():
        _make_model(folder)
    result = subprocess.run(
        ["bash", "deploy.sh"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=SCRIPT_TIMEOUT,
    )
    assert result.returncode == 0, f"{sample}/deploy.sh failed:\n{_show(result)}"


def test_every_sample_has_a_deploy_script() -> None:
    """The runner found the samples (an empty folder would pass silently otherwise)."""
    assert _samples(), f"no az_samples/*/deploy.sh under {SAMPLES}"
