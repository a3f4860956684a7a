"""Serving in this process: bind, serve over HTTPS, advertise in `server.json` until stopped.

Starting one in the background and stopping it from outside is `epdev.devserver.detached`.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import logging
import os
import socket
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import Any

import uvicorn
from uvicorn.config import LOGGING_CONFIG

from epdev.devserver.app import DevserverApp
from epdev.devserver.causes import startup_cause
from epdev.devserver.deadlines import deadline_protocol, read_timeout_from_env
from epdev.devserver.detached import ensure_home
from epdev.devserver.endpoints import Control
from epdev.devserver.errors import ServerError
from epdev.devserver.home import Home, ServerInfo
from epdev.devserver.serveoptions import ServeOptions
from epdev.devserver.tls import ensure_tls
from epdev.runtimes import leftovers
from epdev.runtimes.catalog import Runtimes

log = logging.getLogger("epdev.devserver")


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
    ensure_home(home)
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
