"""The real `epdev` in a real terminal (tmux): keys in, REST API checked.

Skipped where tmux is missing (`apt-get install tmux`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ENDPOINT, Live
from support.waiting import wait_until

from epdev.devserver.home import Home, ServerInfo

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed"),
]


def epdev_command() -> list[str]:
    found = shutil.which("epdev")
    return [found] if found else [sys.executable, "-m", "epdev.devserver.cli.main"]


# A tmux server of our own: the user's (or an earlier run's) would lend its sessions its own
# environment, EPDEV_* variables included.
TMUX = ["tmux", "-L", f"epdev-tests-{os.getpid()}", "-f", "/dev/null"]


class Terminal:
    """One detached tmux session running a command; `screen()` is what a user would see."""

    def __init__(self, command: list[str], env: dict[str, str], cwd: Path) -> None:
        self.name = f"epdev-{uuid.uuid4().hex[:8]}"
        exports = [f"{k}={v}" for k, v in env.items()]
        session = ["new-session", "-d", "-s", self.name, "-x", "140", "-y", "40", "-c", str(cwd)]
        # env -i: the program sees only what a test gives it (no EPDEV_* of ours).
        subprocess.run([*TMUX, *session, "env", "-i", *exports, *command], check=True)

    def screen(self) -> str:
        result = subprocess.run(
            [*TMUX, "capture-pane", "-p", "-t", self.name], capture_output=True, text=True
        )
        return result.stdout

    def alive(self) -> bool:
        found = subprocess.run([*TMUX, "has-session", "-t", self.name], capture_output=True)
        return found.returncode == 0

    def keys(self, *keys: str) -> None:
        for key in keys:
            subprocess.run([*TMUX, "send-keys", "-t", self.name, key], check=True)
            time.sleep(0.15)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        def shown() -> str | None:
            screen = self.screen()
            return screen if text in screen else None

        return wait_until(
            shown,
            timeout,
            what=lambda: f"{text!r} never appeared; the screen shows:\n{self.screen()}",
        )

    def close(self) -> None:
        subprocess.run([*TMUX, "kill-session", "-t", self.name], capture_output=True)


@pytest.fixture
def terminals() -> Iterator[list[Terminal]]:
    opened: list[Terminal] = []
    yield opened
    for terminal in opened:
        terminal.close()
    subprocess.run([*TMUX, "kill-server"], capture_output=True)


def clean_env(home: Path) -> dict[str, str]:
    env = {"EPDEV_HOME": str(home), "PATH": os.environ["PATH"], "TERM": "xterm-256color"}
    for name in ("HOME", "VIRTUAL_ENV", "PYTHONPATH"):
        if name in os.environ:
            env[name] = os.environ[name]
    return env


def test_shift_traffic_with_keys_in_the_real_epdev(live: Live, terminals: list[Terminal]) -> None:
    term = Terminal(epdev_command(), clean_env(live.server.home), live.project.sample_dir)
    terminals.append(term)
    term.wait_for(ENDPOINT)
    term.keys("/", *ENDPOINT, "Enter")  # filter to the one endpoint; the table has the cursor
    term.keys("t")
    term.wait_for("Traffic of dash-ep")
    term.keys("Right", "Right", "S-Right")  # blue 91, 92, then +10 stops at 100 (green 0)
    term.wait_for("100%")
    term.keys("Down", "S-Right", "Right")  # green 10, then 11; blue gives way each time
    shown = term.wait_for(" 11%")
    assert "89%" in shown
    assert live.split() == {"blue": 90, "green": 10}  # nothing sent yet
    term.keys("Enter")
    term.wait_for("Apply traffic to dash-ep")
    term.keys("Enter")
    wait_until(lambda: live.split() == {"blue": 89, "green": 11})
    term.wait_for("blue 89 · green 11")
    term.keys("q")
    wait_until(lambda: not term.alive())
    assert Home(live.server.home).running_server() is not None  # attached: left running


def test_search_a_real_deployments_log_in_the_real_epdev(
    live: Live, terminals: list[Terminal]
) -> None:
    live.invoke(150, deployment="blue")  # the start-up lines are long out of the backlog
    term = Terminal(epdev_command(), clean_env(live.server.home), live.project.sample_dir)
    terminals.append(term)
    term.wait_for(ENDPOINT)
    term.keys("/", *ENDPOINT, "Enter", "Enter")  # filter to the endpoint, then open it
    # The endpoint's screen (the list's traffic column names blue too), with its deployments.
    term.wait_for("scoring URI")
    term.wait_for("■ blue")
    term.keys("Tab")  # from the endpoint's summary to its deployments
    term.keys("l")
    term.wait_for(f"logs {ENDPOINT}/blue")
    term.keys("/", *"init complete", "Enter")
    shown = term.wait_for("match 1/")
    assert "Init complete" in shown
    term.keys("Escape", "Escape", "q")
    wait_until(lambda: not term.alive())


def embedded(tmp_path: Path, terminals: list[Terminal]) -> tuple[Terminal, ServerInfo]:
    """`epdev` alone in a new terminal and the devserver it embedded, once it is up."""
    home = Home(tmp_path / "home")
    term = Terminal(epdev_command(), clean_env(home.root), tmp_path)
    terminals.append(term)
    term.wait_for("embedded devserver", timeout=60)
    info = home.running_server()
    assert info is not None and info.url.startswith("https://")
    return term, info


def test_epdev_alone_embeds_a_devserver_and_stops_it_on_quit(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    term, info = embedded(tmp_path, terminals)
    term.keys("q")
    wait_until(lambda: not term.alive(), timeout=60)
    wait_until(lambda: not info.is_alive(), timeout=30)
    home = Home(tmp_path / "home")
    assert home.running_server() is None
    assert "stopped with its instances" in home.server_log.read_text()


def test_closing_the_terminal_still_stops_the_embedded_devserver(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    term, info = embedded(tmp_path, terminals)
    term.close()  # the terminal goes away: SIGHUP
    wait_until(lambda: not info.is_alive(), timeout=30)
    assert "stopped with its instances" in (tmp_path / "home/logs/server.log").read_text()


def test_epdev_stop_elsewhere_closes_the_dashboard_that_embeds_the_devserver(
    tmp_path: Path, terminals: list[Terminal]
) -> None:
    term, info = embedded(tmp_path, terminals)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EPDEV_")}
    env["EPDEV_HOME"] = str(tmp_path / "home")
    stopped = subprocess.run(
        [*epdev_command(), "stop"], env=env, capture_output=True, text=True, timeout=90
    )
    assert stopped.returncode == 0, stopped.stderr
    assert f"pid {info.pid}" in stopped.stdout
    wait_until(lambda: not term.alive(), timeout=60)
    assert not info.is_alive()
    home = Home(tmp_path / "home")
    assert home.running_server() is None
    assert "stopped with its instances" in home.server_log.read_text()  # quit, not killed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.parametrize("how", ["flag", "env"])
def test_the_embedded_devservers_port_is_pinned(
    tmp_path: Path, terminals: list[Terminal], how: str
) -> None:
    port = _free_port()
    home = Home(tmp_path / "home")
    env = clean_env(home.root)
    command = epdev_command()
    if how == "flag":
        command = [*command, "--port", str(port)]
    else:
        env["EPDEV_PORT"] = str(port)
    term = Terminal(command, env, tmp_path)
    terminals.append(term)
    term.wait_for("embedded devserver", timeout=60)
    info = home.running_server()
    assert info is not None and info.url == f"https://127.0.0.1:{port}"
    term.keys("q")
    wait_until(lambda: not info.is_alive(), timeout=60)
