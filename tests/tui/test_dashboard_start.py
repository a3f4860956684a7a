"""`epdev` alone: embed a devserver in this process (stopped on quit) or attach to one (left
running)."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil
import pytest
from click.testing import CliRunner
from support.batch_project import make_batch_project
from support.devserver import EPDEV, wait_until
from support.sample_project import make_sample_project

from epdev.devserver.cli.main import cli
from epdev.devserver.client import Connection
from epdev.devserver.detached import start_detached, stop
from epdev.devserver.errors import ServerError
from epdev.devserver.home import Home
from epdev.devserver.serveoptions import ServeOptions

pytestmark = pytest.mark.slow


class Opened:
    """Stands in for the dashboard: records how it was opened and what ran meanwhile."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.calls: list[dict[str, Any]] = []
        self.meanwhile: Callable[[], None] | None = None

    def __call__(self, connection: Connection, *, read_only: bool, embedded: bool) -> None:
        running = self.home.running_server()
        self.calls.append(
            {
                "url": connection.url,
                "read_only": read_only,
                "embedded": embedded,
                "running": running is not None,
                "pid": running.pid if running else None,
            }
        )
        if self.meanwhile is not None:
            self.meanwhile()


def workers() -> list[psutil.Process]:
    """The deployment instances this process started (the embedded devserver's).

    Only direct children: in a full run, the session devserver of other tests is a child of
    pytest too, and its instances are this process's grandchildren.
    """
    found = []
    for child in psutil.Process().children(recursive=False):
        try:
            if "epdev.runtimes.worker" in " ".join(child.cmdline()):
                found.append(child)
        except psutil.Error:
            pass
    return found


def other_terminal(home: Home, *args: str) -> str:
    """`epdev ARGS` as a user would run it in another terminal; its output."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPDEV_")}
    env["EPDEV_HOME"] = str(home.root)
    result = subprocess.run([*EPDEV, *args], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    for name in [k for k in os.environ if k.startswith("EPDEV_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("EPDEV_HOME", str(tmp_path / "home"))
    return Home(tmp_path / "home")


@pytest.fixture
def opened(home: Home, monkeypatch: pytest.MonkeyPatch) -> Opened:
    import epdev.tui.launch

    fake = Opened(home)
    monkeypatch.setattr(epdev.tui.launch, "run", fake)
    return fake


def test_no_devserver_embeds_one_and_stops_its_instances_on_quit(
    home: Home, opened: Opened, tmp_path: Path
) -> None:
    project = make_sample_project(tmp_path / "project", endpoint="embedded-ep")
    batch = make_batch_project(tmp_path / "batch", csv_files=1)
    inputs = batch.folder("many", {f"f-{i:03d}.txt": b"x" for i in range(300)})
    seen: dict[str, Any] = {}

    def meanwhile() -> None:
        # While the dashboard is open, the CLI in another terminal finds and uses its devserver.
        other_terminal(home, "apply", "-f", str(project.sample_dir))
        listed = other_terminal(
            home, "online-deployment", "list", "-e", "embedded-ep", "-o", "json"
        )
        seen["deployments"] = json.loads(listed)
        # ... and a batch job is still running when the dashboard quits.
        other_terminal(home, "apply", "-f", str(batch.endpoint_yml))
        other_terminal(home, "batch-deployment", "create", "-f", str(batch.deployment_yml("slow")))
        job = other_terminal(
            home, "batch-endpoint", "invoke", "-n", "batch-sample", "-d", "slow",
            "--input", str(inputs), "--mini-batch-size", "1", "-o", "json",
        )  # fmt: skip
        name = json.loads(job)["name"]

        def running() -> bool:
            shown = json.loads(other_terminal(home, "job", "show", "-n", name, "-o", "json"))
            return bool(shown["progress"]["items_done"] > 0)

        wait_until(running, timeout=120, interval=0.3)
        seen["workers"] = workers()
        seen["batch"] = [p for p in seen["workers"] if "worker.batch" in " ".join(p.cmdline())]

    opened.meanwhile = meanwhile
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 0, result.output
    [call] = opened.calls
    assert call["embedded"] and call["running"]
    assert call["pid"] == os.getpid()  # the same process, not a detached one
    assert call["url"].startswith("https://127.0.0.1:")
    assert sorted(d["name"] for d in seen["deployments"]) == ["blue", "green"]
    assert len(seen["workers"]) - len(seen["batch"]) == 2 and seen["batch"]
    # Quitting stopped every instance, the server and its thread, and withdrew server.json.
    _, alive = psutil.wait_procs(seen["workers"], timeout=30)
    assert not alive
    assert not workers()
    assert not home.server_file.exists()
    assert not [t for t in threading.enumerate() if t.name == "epdev-devserver"]
    assert "listening on https://" in home.server_log.read_text()  # its log, not the terminal
    assert "listening on" not in result.output
    assert "stopping the devserver and its instances" in result.output


def test_a_running_devserver_is_attached_and_left_running(home: Home, opened: Opened) -> None:
    info = start_detached(home, ServeOptions())
    try:
        result = CliRunner().invoke(cli, ["--read-only"])
        assert result.exit_code == 0, result.output
        [call] = opened.calls
        assert not call["embedded"] and call["read_only"]
        assert call["url"] == info.url and call["pid"] == info.pid
        running = home.running_server()
        assert running is not None and running.pid == info.pid
    finally:
        stop(home)


def test_server_option_attaches_to_that_url(
    home: Home, opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    home.ensure()
    home.admin_token(create=True)
    monkeypatch.setenv("EPDEV_CA_BUNDLE", "/nonexistent/ca.pem")
    result = CliRunner().invoke(cli, ["--server", "https://10.1.2.3:8443"])
    assert result.exit_code == 0, result.output
    [call] = opened.calls
    assert call["url"] == "https://10.1.2.3:8443"
    assert not call["embedded"] and not call["running"]  # nothing was started


def test_a_devserver_that_cannot_start_is_one_line_not_a_traceback(
    home: Home, opened: Opened, monkeypatch: pytest.MonkeyPatch
) -> None:
    import epdev.devserver.embedded

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise ServerError("cannot listen on 127.0.0.1:0: Address already in use")

    monkeypatch.setattr(epdev.devserver.embedded, "prepare", refuse)
    result = CliRunner().invoke(cli, [])
    assert result.exit_code == 1
    assert "error: cannot listen" in result.output
    assert "Traceback" not in result.output
    assert not opened.calls
    assert not home.server_file.exists()
