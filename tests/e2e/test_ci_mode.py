"""`epdev serve --detach --apply DIR --wait` and `epdev stop`, as a CI script uses them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).resolve().parents[1] / "sample_user_project"


def _epdev(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPDEV_")}
    env["EPDEV_HOME"] = str(home)
    return subprocess.run(
        [sys.executable, "-m", "epdev.devserver.cli.main", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_serve_apply_wait_then_stop_twice(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(SAMPLE, project)
    home = tmp_path / "home"
    deploy = str(project / "deploy")
    try:
        first = _epdev(home, "serve", "--detach", "--apply", deploy, "--wait", "--timeout", "120")
        assert first.returncode == 0, first.stderr
        assert "price-model/blue is ready" in first.stdout
        # Everything is ready when it returns: the first call succeeds.
        key = json.loads(
            _epdev(home, "online-endpoint", "get-credentials", "-n", "price-model").stdout
        )
        view = json.loads(_epdev(home, "online-endpoint", "show", "-n", "price-model").stdout)
        server = json.loads((home / "server.json").read_text())
        r = requests.post(
            view["scoring_uri"],
            json={"data": [[1, 1, 0]]},
            verify=server["ca_bundle"],
            headers={"Authorization": f"Bearer {key['primaryKey']}"},
            timeout=30,
        )
        assert r.json() == [1000 + 120.5 + 80.25]

        again = _epdev(home, "serve", "--detach", "--apply", deploy, "--wait")
        assert again.returncode == 0, again.stderr
        assert "already running" in again.stdout
        assert json.loads((home / "server.json").read_text())["pid"] == server["pid"]
    finally:
        assert _epdev(home, "stop").returncode == 0
    second = _epdev(home, "stop")
    assert second.returncode == 0
    assert "no devserver was running" in second.stdout


def test_a_failing_deployment_exits_non_zero_with_its_logs(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(SAMPLE, project)
    score = project / "src" / "score.py"
    score.write_text(score.read_text().replace("def init():\n", "def init():\n    1 / 0\n"))
    home = tmp_path / "home"
    try:
        result = _epdev(home, "serve", "--detach", "--apply", str(project / "deploy"), "--wait")
        assert result.returncode == 1
        assert "ZeroDivisionError" in result.stderr
        assert "error: deployment price-model/blue failed" in result.stderr
    finally:
        _epdev(home, "stop")


def test_wait_without_apply_waits_for_what_is_there(tmp_path: Path) -> None:
    home = tmp_path / "home"
    try:
        result = _epdev(home, "serve", "--detach", "--wait")
        assert result.returncode == 0, result.stderr
    finally:
        _epdev(home, "stop")
    refused = _epdev(home, "serve", "--apply", str(SAMPLE / "deploy"))
    assert refused.returncode != 0
    assert "--apply and --wait go with --detach" in refused.stderr


def test_stop_is_prompt_while_someone_follows_logs(tmp_path: Path) -> None:
    project = tmp_path / "project"
    shutil.copytree(SAMPLE, project)
    home = tmp_path / "home"
    assert (
        _epdev(home, "serve", "--detach", "--apply", str(project / "deploy"), "--wait").returncode
        == 0
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPDEV_")}
    env["EPDEV_HOME"] = str(home)
    follower = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "epdev.devserver.cli.main",
            "online-deployment",
            "get-logs",
            "-n",
            "blue",
            "-e",
            "price-model",
            "--follow",
        ],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(1.0)
        started = time.monotonic()
        assert _epdev(home, "stop").returncode == 0
        # uvicorn's graceful timeout is 10 s: a stop held by the open stream would take that long.
        assert time.monotonic() - started < 6
        follower.wait(timeout=30)
    finally:
        follower.kill()
        follower.communicate()
