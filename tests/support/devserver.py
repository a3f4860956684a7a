"""Start a real devserver as a subprocess in its own home, and drive it through the real CLI."""

from __future__ import annotations

import json
import os
import signal
import ssl
import subprocess as subprocess_
import sys
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from epdev.devserver.pytest_plugin import EpdevServer
from support.waiting import wait_until

__all__ = [
    "EPDEV",
    "RunningServer",
    "run_in_process",
    "running_server",
    "start_server",
    "wait_until",
]

EPDEV = [sys.executable, "-m", "epdev.devserver.cli.entry"]

# Commands run in a process of their own even through `RunningServer.cli`: they start or stop
# the devserver, whose process and signals are what their tests are about.
_OWN_PROCESS = frozenset({"serve", "stop"})


def run_in_process(
    args: Sequence[str], env: Mapping[str, str]
) -> subprocess_.CompletedProcess[str]:
    """`epdev ARGS` through click's CliRunner, as a subprocess would see it: only `env`'s
    EPDEV_* variables set, and a crash printed as a traceback with exit status 1."""
    from click.testing import CliRunner

    from epdev.devserver.cli.main import cli

    scoped: dict[str, str | None] = {k: None for k in os.environ if k.startswith("EPDEV_")}
    scoped.update(env)
    result = CliRunner().invoke(cli, list(args), prog_name="epdev", env=scoped)
    stderr = result.stderr
    code = result.exit_code
    if result.exc_info is not None and not isinstance(result.exc_info[1], SystemExit):
        stderr += "".join(traceback.format_exception(*result.exc_info))
        code = 1
    return subprocess_.CompletedProcess(["epdev", *args], code, stdout=result.stdout, stderr=stderr)


@dataclass
class RunningServer:
    home: Path
    url: str
    pid: int
    ca_bundle: str | None

    @property
    def admin_token(self) -> str:
        return (self.home / "admin-token").read_text().strip()

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("EPDEV_")}
        env["EPDEV_HOME"] = str(self.home)
        return env

    def cli(
        self, *args: str, check: bool = True, timeout: float = 120, subprocess: bool = False
    ) -> subprocess_.CompletedProcess[str]:
        """Run `epdev ARGS` against this server's home.

        In this process through click's CliRunner (the CLI is a light HTTP client, and a new
        interpreter costs a second of imports per call), except `serve` and `stop` and with
        `subprocess=True`: there the real process is the point. `timeout` bounds only a
        subprocess (pytest-timeout bounds an in-process run).
        """
        if subprocess or (args and args[0] in _OWN_PROCESS):
            result = subprocess_.run(
                [*EPDEV, *args], env=self.env(), capture_output=True, text=True, timeout=timeout
            )
        else:
            result = run_in_process(args, {"EPDEV_HOME": str(self.home)})
        if check and result.returncode != 0:
            raise AssertionError(
                f"epdev {' '.join(args)} exited {result.returncode}:\n"
                f"{result.stdout}\n{result.stderr}"
            )
        return result

    def cli_json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "-o", "json").stdout)

    def api(self) -> httpx.Client:
        """A control-plane client that verifies the server against epdev's CA."""
        verify: Any = ssl.create_default_context(cafile=self.ca_bundle) if self.ca_bundle else True
        return httpx.Client(
            base_url=self.url,
            headers={"Authorization": f"Bearer {self.admin_token}"},
            verify=verify,
            timeout=30,
        )

    @classmethod
    def of(cls, server: EpdevServer) -> RunningServer:
        """The plugin's session devserver, with this module's CLI helpers."""
        info = json.loads((server.home / "server.json").read_text())
        return cls(home=server.home, url=server.url, pid=info["pid"], ca_bundle=server.ca_bundle)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        with suppress(ProcessLookupError):
            os.kill(self.pid, sig)
        wait_until(self._exited, timeout=30, interval=0.05, what=f"devserver pid {self.pid} runs")

    def _exited(self) -> bool:
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        # The detached server is not our child, but reap it if it is.
        with suppress(ChildProcessError):
            os.waitpid(self.pid, os.WNOHANG)
        return False


def start_server(home: Path, *extra: str, env: dict[str, str] | None = None) -> RunningServer:
    """`epdev serve --detach` in `home`; `env` adds variables (EPDEV_* ones included)."""
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("EPDEV_")}, **(env or {})}
    env["EPDEV_HOME"] = str(home)
    result = subprocess_.run(
        [*EPDEV, "serve", "--detach", *extra], env=env, capture_output=True, text=True, timeout=90
    )
    if result.returncode != 0:
        raise AssertionError(f"epdev serve --detach failed:\n{result.stdout}\n{result.stderr}")
    info = json.loads((home / "server.json").read_text())
    return RunningServer(home=home, url=info["url"], pid=info["pid"], ca_bundle=info["ca_bundle"])


@contextmanager
def running_server(
    home: Path, *extra: str, env: dict[str, str] | None = None
) -> Iterator[RunningServer]:
    server = start_server(home, *extra, env=env)
    try:
        yield server
    finally:
        # Clean-up, not a test of `stop`: in this process (tests of stop call it themselves).
        run_in_process(["stop"], {"EPDEV_HOME": str(server.home)})
        with suppress(AssertionError):
            server.kill()
