"""Running the devserver: bind, serve over HTTPS, advertise itself in `server.json`, stop."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import logging
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import uvicorn
from uvicorn.config import LOGGING_CONFIG

from epdev.devserver.app import DevserverApp
from epdev.devserver.causes import low_space_note, startup_cause
from epdev.devserver.client import ssl_context
from epdev.devserver.deadlines import DEFAULT_READ_TIMEOUT, deadline_protocol, read_timeout_from_env
from epdev.devserver.endpoints import DEFAULT_MAX_REQUEST_BYTES, Control
from epdev.devserver.errors import ServerError
from epdev.devserver.home import Home, HomeError, ServerInfo
from epdev.devserver.tls import ensure_tls
from epdev.devserver.tokens import DEFAULT_LIFETIME
from epdev.runtimes import leftovers
from epdev.runtimes.catalog import DEFAULT_BASE_IMAGE, Runtimes

log = logging.getLogger("epdev.devserver")


# Servers this process started with --detach. Holding their Popen objects lets `stop` reap them
# (no zombie, and no ResourceWarning from a Popen collected while its process runs).
_DETACHED: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class ServeOptions:
    host: str = "127.0.0.1"
    port: int = 0
    insecure_http: bool = False
    runtime: str = "auto"
    base_image: str = DEFAULT_BASE_IMAGE
    token_lifetime: int = int(DEFAULT_LIFETIME.total_seconds())
    max_request_mb: float = DEFAULT_MAX_REQUEST_BYTES / 1024 / 1024
    read_timeout: float = DEFAULT_READ_TIMEOUT
    """Seconds a request's headers may take to arrive (and its body, plus 1 s per 500 bytes)."""


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ServerError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(2048)
    # Close-on-exec (Python's default, kept on purpose): an instance, or anything a scoring
    # script starts, must never hold the devserver's port open after it stops.
    sock.set_inheritable(False)
    return sock


def _ensure_home(home: Home) -> None:
    try:
        home.ensure()
    except HomeError as exc:
        raise ServerError(str(exc)) from None


def _url_host(host: str) -> str:
    # A wildcard bind is reached through loopback from this machine.
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    try:
        if ipaddress.ip_address(host).version == 6:
            return f"[{host}]"
    except ValueError:
        pass
    return host


@dataclass
class Hosting:
    """A devserver ready to run: its bound socket, its uvicorn server and what it will advertise.

    `epdev serve` runs it in the foreground; the dashboard runs it in a thread of its own
    (`epdev.devserver.embedded`). Either way `server.json` is written once it is ready.
    """

    server: _Server
    socket: socket.socket
    info: ServerInfo
    control: Control
    app: DevserverApp

    def startup_failure(self) -> str | None:
        """Why serving ended before the devserver was ready, or None if it was."""
        if self.server.started or self.server.exit_requested:
            return None
        return self.app.startup_error or "its start-up failed (see the lines above)"

    def request_exit(self) -> None:
        """Ask the server to stop (from any thread), as SIGTERM would."""
        self.control.begin_closing()
        self.server.exit_requested = True
        self.server.should_exit = True


def prepare(
    home: Home,
    options: ServeOptions,
    *,
    log_config: dict[str, Any] | None = LOGGING_CONFIG,
    on_ready: Callable[[], None] | None = None,
) -> Hosting:
    """Bind, set up TLS, the admin token, the control plane and uvicorn; serve nothing yet."""
    try:
        return _prepare(home, options, log_config, on_ready)
    except (OSError, sqlite3.Error) as exc:
        raise ServerError(f"the devserver cannot start: {startup_cause(exc, home.root)}") from None


def _prepare(
    home: Home,
    options: ServeOptions,
    log_config: dict[str, Any] | None,
    on_ready: Callable[[], None] | None,
) -> Hosting:
    _ensure_home(home)
    running = home.running_server()
    if running is not None and running.pid != os.getpid():
        raise ServerError(
            f"a devserver is already running for {home.root} at {running.url} (pid {running.pid}); "
            "stop it with `epdev stop`"
        )
    sock = _bind(options.host, options.port)
    # Processes a scoring script detaches (setsid) are re-parented here, not to init, so
    # they can be found and reaped when their instance ends.
    leftovers.become_subreaper()
    port = sock.getsockname()[1]
    scheme = "http" if options.insecure_http else "https"
    url = f"{scheme}://{_url_host(options.host)}:{port}"
    ssl: dict[str, str] = {}
    ca_bundle: str | None = None
    if not options.insecure_http:
        extra = (
            ()
            if options.host in ("127.0.0.1", "::1", "localhost", "0.0.0.0", "::")
            else (options.host,)
        )
        files = ensure_tls(home.tls_dir, extra)
        ssl = {"ssl_certfile": str(files.server_cert), "ssl_keyfile": str(files.server_key)}
        ca_bundle = str(files.ca_cert)
    token = home.admin_token(create=True)
    assert token is not None
    control = Control(
        home,
        Runtimes(options.runtime, options.base_image, sockets=home.run_dir),
        url,
        token_lifetime=dt.timedelta(seconds=options.token_lifetime),
        max_request_bytes=int(options.max_request_mb * 1024 * 1024),
    )
    info = ServerInfo(url=url, pid=os.getpid(), ca_bundle=ca_bundle, home=str(home.root))

    def ready() -> None:
        home.write_server(info)
        if on_ready is not None:
            on_ready()

    app = DevserverApp(control, token, on_ready=ready)
    try:
        read_timeout = read_timeout_from_env(options.read_timeout)
    except ValueError as exc:
        raise ServerError(str(exc)) from None
    config = uvicorn.Config(
        app,
        http=deadline_protocol(read_timeout),
        log_level="warning",
        log_config=log_config,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=10,
        **ssl,  # type: ignore[arg-type]
    )
    server = _Server(config, on_exit=control.begin_closing)
    return Hosting(server=server, socket=sock, info=info, control=control, app=app)


def serve(home: Home, options: ServeOptions) -> None:
    """Run the devserver in the foreground until SIGINT or SIGTERM."""
    hosting = prepare(home, options)
    log.info("epdev devserver listening on %s", hosting.info.url)
    try:
        hosting.server.run(sockets=[hosting.socket])
    except SystemExit:
        # uvicorn exits this way when the start-up fails, after logging only that it did.
        failure = hosting.startup_failure()
        if failure is None:
            raise
        raise ServerError(f"the devserver cannot start: {failure}") from None
    finally:
        home.clear_server(os.getpid())
        hosting.socket.close()


class _Server(uvicorn.Server):
    """uvicorn waits for open responses before the app hears of a shutdown; streams that never
    end on their own (followed logs) must learn of it when the signal arrives."""

    def __init__(self, config: uvicorn.Config, on_exit: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_exit = on_exit
        self.exit_requested = False  # a stop asked for, as opposed to a failed start

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.exit_requested = True
        self._on_exit()
        super().handle_exit(sig, frame)


def start_detached(home: Home, options: ServeOptions, timeout: float = 60.0) -> ServerInfo:
    """Start `epdev serve` in the background and return once it answers."""
    _ensure_home(home)
    running = home.running_server()
    if running is not None:
        return running
    args = [sys.executable, "-m", "epdev.devserver.cli.main", "serve", "--host", options.host]
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


def last_log_line(path: Path) -> str:
    try:
        lines = [ln for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return lines[-1] if lines else "(empty)"
