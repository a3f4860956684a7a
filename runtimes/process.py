"""The process runtime: each instance is a worker process on this machine's Python."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import sys
import tempfile
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from epdev.runtimes import leftovers, unix_hosts
from epdev.runtimes.instance import (
    InstanceFailed,
    InstanceSpec,
    InstanceState,
    LogSink,
    Runtime,
)
from epdev.runtimes.oom import memory_hint, oom_kills
from epdev.runtimes.output import pump_lines
from epdev.runtimes.readiness import ready_or_exit
from epdev.runtimes.staging import stage_model_dir, worker_environment

HOST = "127.0.0.1"
BACKLOG = 2048
TAIL_LINES = 50
EXIT_AFTER_ERROR_SECONDS = 5.0
"""How long a worker that reported a failure gets to exit before it is killed."""
DRAIN_SECONDS = 1.0
"""How long to wait for the rest of an exited worker's output."""
_SUN_PATH_MAX = 107
"""The longest path a Unix socket can be bound to (sun_path holds 108 bytes with its NUL)."""


class ProcessRuntime:
    """Runs instances as `python -P -m epdev.runtimes.worker` child processes."""

    name = "process"

    def __init__(self, python: str | None = None, *, sockets: Path | None = None) -> None:
        self.python = python or sys.executable
        # Instances listen on Unix sockets in this private folder when set (a loopback TCP
        # port otherwise): the devserver's hop to them is cheaper that way.
        self.sockets = sockets

    def create_instance(self, spec: InstanceSpec, sink: LogSink) -> ProcessInstance:
        return ProcessInstance(spec, sink, python=self.python, sockets=self.sockets)


class ProcessInstance:
    """One worker process. See epdev.runtimes.instance.Instance for the contract."""

    def __init__(
        self,
        spec: InstanceSpec,
        sink: LogSink,
        *,
        python: str,
        env: Mapping[str, str] | None = None,
        sockets: Path | None = None,
    ) -> None:
        self.spec = spec
        self._sockets = sockets
        # Listening on a Unix socket: its path and the host name that stands for it.
        self._socket_path: Path | None = None
        self._socket_host: str | None = None
        self.state = InstanceState.STARTING
        self._sink = sink
        self._python = python
        # Set last, over the deployment's own variables: what the runtime's interpreter needs
        # (a venv's PYTHONPATH to the worker bundle, say) must not be undone by the user's.
        self._env = dict(env or {})
        self._port: int | None = None
        self._proc: asyncio.subprocess.Process | None = None
        self._exited: asyncio.Future[int] | None = None
        self._pumps: list[asyncio.Task[None]] = []
        self._stderr_tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._ready_transport: asyncio.ReadTransport | None = None
        self._stopping = False
        self._stop_task: asyncio.Future[None] | None = None
        self._temp_dir: Path | None = None
        self._socket_dir: Path | None = None
        # Marks the worker's environment, so what its script starts can be found at its end.
        self._mark = leftovers.new_mark(leftovers.scope_of(spec.cache_dir))
        self._leftovers: asyncio.Future[None] | None = None
        self._oom_kills: int | None = None

    @property
    def url(self) -> str:
        if self._socket_host is not None:
            return f"http://{self._socket_host}"
        if self._port is None:
            raise RuntimeError(f"instance {self.spec.name} has not been started")
        return f"http://{HOST}:{self._port}"

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    async def start(self, ready_timeout: float) -> None:
        if self._proc is not None:
            raise RuntimeError(f"instance {self.spec.name} was already started")
        if self._stopping:
            raise InstanceFailed(f"instance {self.spec.name} was stopped before it started")
        try:
            ready = await self._spawn()
            await self._await_ready(ready, ready_timeout)
        except BaseException:
            # Failed, timed out or cancelled: nothing of the instance may outlive this call.
            self.state = InstanceState.FAILED
            await self.stop(grace=0)
            raise

    async def _spawn(self) -> asyncio.StreamReader:
        work_dir = self.spec.work_dir
        if work_dir == Path():
            self._temp_dir = work_dir = Path(tempfile.mkdtemp(prefix=f"epdev-{self.spec.name}-"))
        if not self.spec.code_dir.is_dir():
            raise InstanceFailed(
                f"the code folder {self.spec.code_dir.absolute()} does not exist "
                "(deleted or moved since the deployment was created?)"
            )
        self._oom_kills = await asyncio.to_thread(oom_kills)
        try:
            model_dir = stage_model_dir(self.spec, work_dir)
        except OSError as exc:
            raise InstanceFailed(f"could not prepare the model folder: {exc}") from exc
        env = worker_environment(self.spec, model_dir)
        env.update(self._env)
        env[leftovers.MARK_VAR] = self._mark
        sock = self._listen()
        read_fd, write_fd = os.pipe()
        try:
            argv = [
                self._python,
                "-P",
                "-m",
                "epdev.runtimes.worker",
                "--fd",
                str(sock.fileno()),
                "--ready-fd",
                str(write_fd),
                "--parent-pid",
                str(os.getpid()),
                "--max-concurrent-requests",
                str(self.spec.max_concurrent_requests),
            ]
            self._proc = await asyncio.create_subprocess_exec(
                *argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(sock.fileno(), write_fd),
                cwd=self.spec.code_dir.absolute(),
                env=env,
                start_new_session=True,
            )
        except BaseException as exc:
            os.close(read_fd)
            if isinstance(exc, OSError):
                raise InstanceFailed(f"could not start the worker: {exc}") from exc
            raise
        finally:
            # The worker holds its own copies: once it is gone, its port refuses connections.
            sock.close()
            os.close(write_fd)

        proc = self._proc
        leftovers.spawned(proc.pid)
        self._exited = asyncio.ensure_future(self._wait_exit(proc))
        self._exited.add_done_callback(self._on_exit)
        assert proc.stdout is not None and proc.stderr is not None
        self._pumps = [
            asyncio.ensure_future(pump_lines(proc.stdout, "stdout", self._sink)),
            asyncio.ensure_future(pump_lines(proc.stderr, "stderr", self._sink, self._stderr_tail)),
        ]
        loop = asyncio.get_running_loop()
        ready = asyncio.StreamReader()
        pipe = os.fdopen(read_fd, "rb", buffering=0)
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(ready), pipe
        )
        self._ready_transport = transport
        return ready

    def _listen(self) -> socket.socket:
        """The worker's listening socket: a Unix one in the runtime's socket folder when it has
        one, else a loopback TCP port."""
        folder = self._sockets
        if folder is not None:
            path = folder / f"{secrets.token_hex(8)}.sock"
            if len(os.fsencode(path)) > _SUN_PATH_MAX:
                # A home with a long path: a private folder of the instance's own in /tmp.
                self._socket_dir = folder = Path(tempfile.mkdtemp(prefix="epdev-"))
                path = folder / "worker.sock"
            else:
                folder.mkdir(mode=0o700, parents=True, exist_ok=True)
                folder.chmod(0o700)  # only this user may connect to what is in it
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.bind(str(path))
                sock.listen(BACKLOG)
            except OSError as exc:
                sock.close()
                raise InstanceFailed(f"could not listen on {path}: {exc}") from exc
            self._socket_path = path
            self._socket_host = unix_hosts.register(str(path))
            return sock
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            sock.bind((HOST, 0))
            sock.listen(BACKLOG)
        except OSError as exc:
            sock.close()
            raise InstanceFailed(f"could not listen on {HOST}: {exc}") from exc
        self._port = sock.getsockname()[1]
        return sock

    async def _await_ready(self, ready: asyncio.StreamReader, timeout: float) -> None:
        exited = self._exited
        assert exited is not None
        line_task, timed_out = await ready_or_exit(ready.readline(), exited, timeout)
        self._close_ready_pipe()
        line = line_task.result() if line_task is not None else b""
        if line.startswith(b"ready") and not exited.done():
            self.state = InstanceState.READY
            return
        if timed_out:
            raise InstanceFailed(f"init() did not finish within {timeout:g} s")
        # The worker reported an error, exited or closed the pipe: let it finish and say why.
        try:
            code = await asyncio.wait_for(asyncio.shield(exited), EXIT_AFTER_ERROR_SECONDS)
        except TimeoutError:
            await self.stop(grace=0)
            code = await exited
        await self._drain()
        reason = line.decode("utf-8", "replace").strip().removeprefix("error").strip()
        if reason:
            raise InstanceFailed(f"{reason} ({describe_exit(code)})")
        said = last_meaningful(self._stderr_tail)
        hint = memory_hint(code, self._oom_kills)
        if said == NOTHING_PRINTED or _ROUTINE.match(said):
            # A routine log line ("calling init()") is no reason: the exit itself is.
            raise InstanceFailed(
                f"the worker process exited with {describe_exit(code)} before it was ready, "
                f"without printing an error{hint}"
            )
        raise InstanceFailed(
            f"the worker exited with {describe_exit(code)} before it was ready: {said}{hint}"
        )

    async def _wait_exit(self, proc: asyncio.subprocess.Process) -> int:
        """The worker's exit code, once it has exited. asyncio reports an exit only once the
        worker's output pipes have closed, and a process its script started may hold them
        open: the worker's own end (seen through a pidfd) ends those first."""
        waiting = asyncio.ensure_future(proc.wait())
        ended = _pidfd_closed(proc.pid)
        if ended is not None:
            try:
                either: set[asyncio.Future[Any]] = {waiting, ended}
                await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            finally:
                ended.cancel()
            if not waiting.done():
                await asyncio.shield(self._end_leftovers())
        return await waiting

    def _on_exit(self, exited: asyncio.Future[int]) -> None:
        if self._proc is not None:
            leftovers.reaped(self._proc.pid)
        if not self._stopping and self.state == InstanceState.READY:
            self.state = InstanceState.FAILED
        # Whatever way the worker went, what its script started goes with it.
        self._end_leftovers()

    def _end_leftovers(self) -> asyncio.Future[None]:
        if self._leftovers is None:
            self._leftovers = asyncio.ensure_future(self._kill_leftovers())
        return self._leftovers

    async def _kill_leftovers(self) -> None:
        if self._proc is None:
            return
        pid = self._proc.pid
        killed = await asyncio.to_thread(leftovers.kill, self._mark, pid, spare=pid)
        if killed:
            names = ", ".join(k.describe() for k in killed[:10])
            more = f" and {len(killed) - 10} more" if len(killed) > 10 else ""
            self._sink(
                "epdev",
                f"instance {self.spec.name} ended: killed {len(killed)} process(es) its script "
                f"had started: {names}{more}",
            )

    async def stop(self, grace: float = 5.0) -> None:
        self._stopping = True
        if self._stop_task is None:
            self._stop_task = asyncio.ensure_future(self._stop(grace))
        await asyncio.shield(self._stop_task)

    async def _stop(self, grace: float) -> None:
        proc, exited = self._proc, self._exited
        if proc is not None and exited is not None:
            if not exited.done():
                self._signal_group(proc.pid, signal.SIGTERM if grace > 0 else signal.SIGKILL)
                try:
                    await asyncio.wait_for(asyncio.shield(exited), grace if grace > 0 else None)
                except TimeoutError:
                    self._signal_group(proc.pid, signal.SIGKILL)
                    await exited
            # Whatever the script started (its group, and setsid'd processes) goes with it.
            await asyncio.shield(self._end_leftovers())
            await self._drain()
        if self.state != InstanceState.FAILED:
            self.state = InstanceState.STOPPED
        self._cleanup()

    @staticmethod
    def _signal_group(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, sig)

    async def _drain(self) -> None:
        """Let the output pumps finish the exited worker's last lines, briefly."""
        pumps = [p for p in self._pumps if not p.done()]
        if pumps:
            _, pending = await asyncio.wait(pumps, timeout=DRAIN_SECONDS)
            for pump in pending:  # a grandchild still holds the pipe open
                pump.cancel()

    def _close_ready_pipe(self) -> None:
        if self._ready_transport is not None:
            self._ready_transport.close()
            self._ready_transport = None

    def _cleanup(self) -> None:
        self._close_ready_pipe()
        if self._socket_host is not None:
            unix_hosts.forget(self._socket_host)
        if self._socket_path is not None:
            self._socket_path.unlink(missing_ok=True)
        if self._socket_dir is not None:
            shutil.rmtree(self._socket_dir, ignore_errors=True)
            self._socket_dir = None
        if self._temp_dir is not None:
            shutil.rmtree(self._temp_dir, ignore_errors=True)
            self._temp_dir = None

    async def wait(self) -> int:
        if self._exited is None:
            raise RuntimeError(f"instance {self.spec.name} has not been started")
        code = await asyncio.shield(self._exited)
        # The instance has ended once what its script started has gone too.
        await asyncio.shield(self._end_leftovers())
        return code

    def exit_reason(self, code: int) -> str:
        return describe_exit(code) + memory_hint(code, self._oom_kills)


def _pidfd_closed(pid: int) -> asyncio.Future[None] | None:
    """A future resolved once process `pid` has ended (Linux pidfd); None where unsupported."""
    pidfd_open = getattr(os, "pidfd_open", None)
    if pidfd_open is None:
        return None
    try:
        fd = pidfd_open(pid)
    except OSError:
        return None
    loop = asyncio.get_running_loop()
    done: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not done.done():
            done.set_result(None)

    def close(_: asyncio.Future[None]) -> None:
        loop.remove_reader(fd)
        os.close(fd)

    try:
        loop.add_reader(fd, readable)
    except (OSError, NotImplementedError, ValueError):
        os.close(fd)
        return None
    done.add_done_callback(close)
    return done


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            return f"signal {signal.Signals(-code).name}"
        except ValueError:
            return f"signal {-code}"
    return f"exit code {code}"


NOTHING_PRINTED = "it printed nothing on stderr"
# A worker log record below WARNING (epdev.runtimes.worker.logs.FORMAT).
_ROUTINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO) ")

TRACEBACK_FRAMING = ("Traceback (most recent call last)", "During handling", "The above")


def last_meaningful(lines: deque[str]) -> str:
    """The line that best says why a process failed: the exception line of a traceback."""
    for line in reversed(lines):
        text = line.strip()
        if (
            not text
            or line[:1].isspace()
            or text.startswith(
                ("Traceback (most recent call last)", "During handling", "The above")
            )
            or set(text) <= set("^~ ")
        ):
            continue
        return text if len(text) <= 500 else text[:497] + "..."
    return NOTHING_PRINTED


if TYPE_CHECKING:  # ProcessRuntime and its instances honour the contract
    _runtime: Runtime = ProcessRuntime()
