"""The devserver inside another program (the dashboard): the same app as `epdev serve`, served by
uvicorn on a thread and event loop of its own.

It advertises itself in `server.json` like `epdev serve`, so commands in other terminals use it
while it runs. uvicorn installs no signal handlers off the main thread: the host program decides
when to stop it, and `stop()` (or leaving the `with` block) stops every instance and removes
`server.json`.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from types import TracebackType

from epdev.devserver.causes import last_log_line
from epdev.devserver.errors import ServerError
from epdev.devserver.home import Home, ServerInfo
from epdev.devserver.serveoptions import ServeOptions
from epdev.devserver.server import Hosting, prepare

# What the server logs goes to the home's server log: the host owns the terminal.
_LOGGERS = ("epdev.devserver", "uvicorn")

log = logging.getLogger("epdev.devserver")


class EmbeddedServer:
    """A devserver on a background thread of this process."""

    def __init__(self, home: Home, options: ServeOptions | None = None) -> None:
        self.home = home
        self.options = options or ServeOptions()
        self._hosting: Hosting | None = None
        self._thread: threading.Thread | None = None
        self._failure: BaseException | None = None
        self._handler: logging.Handler | None = None
        self._levels: dict[str, int] = {}
        self._stop_lock = threading.RLock()

    @property
    def running(self) -> bool:
        return self._hosting is not None

    @property
    def info(self) -> ServerInfo:
        if self._hosting is None:
            raise ServerError("the embedded devserver has not been started")
        return self._hosting.info

    def start(self, timeout: float = 60.0) -> ServerInfo:
        """Serve in the background; return once the devserver accepts requests."""
        self._log_to_file()
        try:
            hosting = prepare(self.home, self.options, log_config=None)
        except BaseException:
            self._stop_logging()
            raise
        self._hosting = hosting
        self._thread = threading.Thread(target=self._run, name="epdev-devserver", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not hosting.server.started:
            if not self._thread.is_alive():
                why = self._why_not_started()
                self.stop()
                raise ServerError(why)
            if time.monotonic() > deadline:
                self.stop()
                raise ServerError(
                    f"the devserver did not start within {timeout:g} s; see {self.home.server_log}"
                )
            time.sleep(0.02)
        log.info(
            "epdev devserver listening on %s (embedded, pid %d)", hosting.info.url, os.getpid()
        )
        return hosting.info

    def stop(self, timeout: float = 60.0) -> None:
        """Stop the instances and the server, and remove `server.json`; safe to call twice."""
        with self._stop_lock:
            hosting, thread = self._hosting, self._thread
            if hosting is None:
                return
            if thread is not None:
                hosting.request_exit()
                thread.join(timeout)
                if thread.is_alive():
                    # Open connections that never finish: stop waiting for them (the
                    # lifespan still stops the instances).
                    hosting.server.force_exit = True
                    thread.join(timeout)
            self.home.clear_server(os.getpid())
            hosting.socket.close()
            log.info("epdev devserver at %s stopped with its instances", hosting.info.url)
            self._stop_logging()
            self._hosting = self._thread = None

    def __enter__(self) -> ServerInfo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _run(self) -> None:
        assert self._hosting is not None
        try:
            self._hosting.server.run(sockets=[self._hosting.socket])
        except BaseException as exc:  # a thread's error must reach the one that waits
            self._failure = exc

    def _why_not_started(self) -> str:
        failure = self._hosting.startup_failure() if self._hosting is not None else None
        if failure is not None:
            return f"the devserver cannot start: {failure}"
        if self._failure is not None:
            return f"the devserver could not start: {type(self._failure).__name__}: {self._failure}"
        return (
            f"the devserver could not start; its log ({self.home.server_log}) ends with: "
            f"{last_log_line(self.home.server_log)}"
        )

    def _log_to_file(self) -> None:
        self.home.ensure()
        handler = logging.FileHandler(self.home.server_log, encoding="utf-8")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        for name in _LOGGERS:
            logger = logging.getLogger(name)
            self._levels[name] = logger.level
            logger.addHandler(handler)
            if logger.level == logging.NOTSET or logger.level > logging.INFO:
                logger.setLevel(logging.INFO)
        self._handler = handler

    def _stop_logging(self) -> None:
        handler, self._handler = self._handler, None
        if handler is None:
            return
        for name, level in self._levels.items():
            logger = logging.getLogger(name)
            logger.removeHandler(handler)
            logger.setLevel(level)
        handler.close()
