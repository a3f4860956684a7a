"""Serving the scoring app with uvicorn (httptools, uvloop) on an already-listening socket."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable

import uvicorn

from epdev.runtimes.asgi import AsgiApp

KEEP_ALIVE_SECONDS = 75
"""Longer than any client pool's idle expiry, so a pooled connection is never closed under it."""


class _Server(uvicorn.Server):
    def __init__(self, config: uvicorn.Config, on_started: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_started = on_started

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started and not self.should_exit:
            self._on_started()


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop]:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux and macOS
        return asyncio.new_event_loop
    return uvloop.new_event_loop


def serve(app: AsgiApp, sock: socket.socket, on_started: Callable[[], None]) -> None:
    """Serve until SIGTERM/SIGINT; `on_started` runs once requests are being accepted."""
    config = uvicorn.Config(
        app,
        http="httptools",
        ws="none",
        lifespan="off",
        interface="asgi3",
        log_config=None,
        access_log=False,
        proxy_headers=False,
        server_header=False,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )
    server = _Server(config, on_started)
    with asyncio.Runner(loop_factory=_loop_factory()) as runner:
        runner.run(server.serve(sockets=[sock]))
