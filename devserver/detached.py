"""A devserver in a process of its own: start one in the background, wait till it answers, stop
this home's.

`epdev serve --detach` and `epdev stop` are all this module, so it stays import-light (an
import-linter contract keeps FastAPI, uvicorn and the server out): the process that serves
imports `epdev.devserver.server`, the one that launches or stops it does not.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

import httpx

from epdev.devserver.causes import last_log_line, low_space_note
from epdev.devserver.client import ssl_context
from epdev.devserver.errors import ServerError
from epdev.devserver.home import Home, HomeError, ServerInfo
from epdev.devserver.serveoptions import ServeOptions

# Servers this process started with --detach. Holding their Popen objects lets `stop` reap them
# (no zombie, and no ResourceWarning from a Popen collected while its process runs).
_DETACHED: dict[int, subprocess.Popen[bytes]] = {}


def ensure_home(home: Home) -> None:
    """Create the home (or make it private), or fail as the devserver does: one line."""
    try:
        home.ensure()
    except HomeError as exc:
        raise ServerError(str(exc)) from None


def start_detached(home: Home, options: ServeOptions, timeout: float = 60.0) -> ServerInfo:
    """Start `epdev serve` in the background and return once it answers."""
    ensure_home(home)
    running = home.running_server()
    if running is not None:
        return running
    # Through the console script's entry point, which keeps imports that epdev never uses out of
    # the server's start-up too.
    args = [sys.executable, "-m", "epdev.devserver.cli.entry", "serve", "--host", options.host]
    args += ["--port", str(options.port)]
    if options.insecure_http:
        args.append("--insecure-http")
    args += ["--runtime", options.runtime, "--base-image", options.base_image]
    args += ["--token-lifetime", str(options.token_lifetime)]
    args += ["--max-request-mb", str(options.max_request_mb)]
    env = {**os.environ, "EPDEV_HOME": str(home.root)}
    with home.server_log.open("ab") as out:
        proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
            close_fds=True,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ServerError(
                f"the devserver exited with code {proc.returncode} while starting"
                f"{low_space_note(home.root)}; its log ({home.server_log}) ends with: "
                f"{last_log_line(home.server_log)}"
            )
        info = home.read_server()
        if info is not None and info.pid == proc.pid and _answers(info):
            _DETACHED[proc.pid] = proc
            return info
        time.sleep(0.05)
    proc.kill()
    proc.wait()
    raise ServerError(f"the devserver did not answer within {timeout:g} s; see {home.server_log}")


def stop(home: Home, timeout: float = 30.0) -> ServerInfo | None:
    """Stop this home's devserver (SIGTERM, then SIGKILL after `timeout`); None if none ran."""
    info = home.running_server()
    if info is None:
        home.server_file.unlink(missing_ok=True)
        return None
    with contextlib.suppress(ProcessLookupError):
        os.kill(info.pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and info.is_alive():
        time.sleep(0.05)
    if info.is_alive():
        with contextlib.suppress(ProcessLookupError):
            os.kill(info.pid, signal.SIGKILL)
    ours = _DETACHED.pop(info.pid, None)
    if ours is not None:
        ours.wait()
    home.clear_server(info.pid)
    return info


def _answers(info: ServerInfo) -> bool:
    verify = ssl_context(info.ca_bundle) if info.url.startswith("https") else True
    try:
        response = httpx.get(f"{info.url}/api/v1/health", verify=verify, timeout=2.0)
    except httpx.HTTPError:
        return False
    return response.status_code == 200
