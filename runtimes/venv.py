"""The venv runtime: each instance is a worker process in a virtual environment of its own.

A deployment's environment (see epdev.runtimes.environment) becomes a venv that every
deployment with the same environment shares, kept under the devserver's cache folder:

    uv/                       uv's cache, shared by every venv and wheelhouse: a package is
                              downloaded once and linked into each environment that has it
    release-dates.json        the release dates of pinned packages (epdev.runtimes.eras)
    venvs/<digest>/           a finished venv; it only ever appears complete (renamed into place)
    venvs/.<digest>.lock      held while that venv is built, so concurrent instances build it once
    venvs/.<digest>.partial   the venv being built
    worker-<hash>/            the worker's code (epdev.runtimes.bundle), put on PYTHONPATH

A venv holds the user's requirements and the worker's three server packages, never epdev, on
the Python the environment asks for when one is installed (epdev.runtimes.interpreters); uv
resolves and installs them (epdev.runtimes.resolution). The build has a limit of its own; only
the worker's start counts against the readiness timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import shutil
import time
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import TYPE_CHECKING

from epdev.runtimes.bundle import worker_bundle
from epdev.runtimes.environment import PythonEnvironment
from epdev.runtimes.instance import (
    InstanceFailed,
    InstanceSpec,
    InstanceState,
    LogSink,
    Runtime,
)
from epdev.runtimes.interpreters import choose
from epdev.runtimes.process import ProcessInstance, describe_exit
from epdev.runtimes.resolution import requirements_file, resolve_with_uv
from epdev.runtimes.uvtool import run_uv, uv_environment

BUILD_STREAM = "build"
"""The LogSink stream of the build's own lines and uv's output."""
WARNING_STREAM = "warning"
"""The LogSink stream of what the user should know about their environment."""
BUILD_TIMEOUT_SECONDS = 15 * 60.0
LOCK_POLL_SECONDS = 0.1
logger = logging.getLogger(__name__)


class VenvRuntime:
    """Runs instances as worker processes on the Python of a venv built for their environment."""

    name = "venv"

    def __init__(
        self, *, build_timeout: float = BUILD_TIMEOUT_SECONDS, sockets: Path | None = None
    ) -> None:
        self.build_timeout = build_timeout
        # Where instances listen on Unix sockets (see ProcessRuntime); TCP when None.
        self.sockets = sockets

    def create_instance(self, spec: InstanceSpec, sink: LogSink) -> VenvInstance:
        return VenvInstance(spec, sink, self)

    async def ensure_venv(self, env: PythonEnvironment, cache_dir: Path, sink: LogSink) -> Path:
        """The venv for `env`: the cached one when it exists, else built now (once, however many
        instances ask at the same time). Raises InstanceFailed saying why in one line."""
        digest = env.digest
        root = cache_dir / "venvs"
        final = root / digest
        if _usable(final):
            return final
        timer = asyncio.timeout(self.build_timeout)
        try:
            async with timer:
                return await _build(env, digest, root, cache_dir, sink)
        except TimeoutError:
            if not timer.expired():
                raise
            raise InstanceFailed(
                f"building the venv for {env.source} took longer than {self.build_timeout:g} s"
            ) from None


class VenvInstance:
    """A venv build, then one worker process. See epdev.runtimes.instance.Instance."""

    def __init__(self, spec: InstanceSpec, sink: LogSink, runtime: VenvRuntime) -> None:
        self.spec = spec
        self._state = InstanceState.STARTING
        self._sink = sink
        self._runtime = runtime
        self._build: asyncio.Future[Path] | None = None
        self._process: ProcessInstance | None = None
        self._stopping = False

    @property
    def state(self) -> InstanceState:
        return self._process.state if self._process is not None else self._state

    @state.setter
    def state(self, value: InstanceState) -> None:
        if self._process is not None:
            self._process.state = value
        else:
            self._state = value

    @property
    def url(self) -> str:
        if self._process is None:
            raise RuntimeError(f"instance {self.spec.name} has not been started")
        return self._process.url

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    async def start(self, ready_timeout: float) -> None:
        if self._build is not None:
            raise RuntimeError(f"instance {self.spec.name} was already started")
        if self._stopping:
            raise InstanceFailed(f"instance {self.spec.name} was stopped before it started")
        environment = self.spec.environment
        python_env = environment.python if environment is not None else PythonEnvironment()
        for note in python_env.notes:
            _say(self._sink, WARNING_STREAM, note)
        cache_dir = cache_dir_of(self.spec)
        # A task of its own, so that stop() can cancel the build without cancelling start().
        self._build = asyncio.ensure_future(
            self._runtime.ensure_venv(python_env, cache_dir, self._sink)
        )
        try:
            venv = await self._build
            if self._stopping:
                raise InstanceFailed(f"instance {self.spec.name} was stopped while starting")
            bundle = worker_bundle(cache_dir)
        except asyncio.CancelledError:
            self._state = InstanceState.FAILED
            task = asyncio.current_task()
            if self._stopping and (task is None or task.cancelling() == 0):
                raise InstanceFailed(
                    f"instance {self.spec.name} was stopped while its venv was being built"
                ) from None
            raise
        except OSError as exc:
            self._state = InstanceState.FAILED
            raise InstanceFailed(
                f"could not copy the worker's code into {cache_dir}: {exc}"
            ) from exc
        except BaseException:
            self._state = InstanceState.FAILED
            raise
        self._process = ProcessInstance(
            self.spec,
            self._sink,
            python=str(venv / "bin" / "python"),
            env=self._worker_env(venv, bundle),
            sockets=self._runtime.sockets,
        )
        await self._process.start(ready_timeout)

    def _worker_env(self, venv: Path, bundle: Path) -> dict[str, str]:
        return worker_env(venv, bundle, self.spec.environment_variables)

    async def stop(self, grace: float = 5.0) -> None:
        self._stopping = True
        build = self._build
        if build is not None and not build.done():
            build.cancel()
            await asyncio.wait([build])
        if self._process is not None:
            await self._process.stop(grace)
        elif self._state != InstanceState.FAILED:
            self._state = InstanceState.STOPPED

    async def wait(self) -> int:
        if self._process is None:
            raise RuntimeError(f"instance {self.spec.name} has not been started")
        return await self._process.wait()

    def exit_reason(self, code: int) -> str:
        if self._process is None:
            return describe_exit(code)
        return self._process.exit_reason(code)


def worker_env(venv: Path, bundle: Path, user: dict[str, str]) -> dict[str, str]:
    """The variables that make a worker run on `venv`'s Python with the worker's code (`bundle`)
    importable; `user` is the deployment's own environment_variables."""
    # The host's PYTHONPATH is left out: it would let the host's packages into the venv.
    python_path = [str(bundle)]
    if user.get("PYTHONPATH"):
        python_path.append(user["PYTHONPATH"])
    path = user.get("PATH", os.environ.get("PATH", os.defpath))
    env = {
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{path}",
        "PYTHONPATH": os.pathsep.join(python_path),
    }
    if "PYTHONDONTWRITEBYTECODE" not in user:
        # uv installs without compiling (as pip would at install); the first start writes the
        # bytecode of what it imports into the venv, so later starts do not compile scipy
        # again, even where the devserver runs with bytecode writing off. Empty means unset.
        env["PYTHONDONTWRITEBYTECODE"] = ""
    return env


def cache_dir_of(spec: InstanceSpec) -> Path:
    """The spec's cache folder; without one (a bare spec), EPDEV_HOME's."""
    if spec.cache_dir != Path():
        return spec.cache_dir.absolute()
    home = os.environ.get("EPDEV_HOME") or "~/.epdev"
    return Path(home).expanduser().absolute() / "cache"


def _usable(venv: Path) -> bool:
    # Follows the interpreter's link: a venv whose base Python was removed is rebuilt.
    return (venv / "bin" / "python").exists()


async def _build(
    env: PythonEnvironment, digest: str, root: Path, cache_dir: Path, sink: LogSink
) -> Path:
    final = root / digest
    root.mkdir(parents=True, exist_ok=True)

    def waiting() -> None:
        _say(sink, BUILD_STREAM, f"waiting for venv {digest}, which another instance is building")

    async with _locked(root / f".{digest}.lock", waiting):
        if _usable(final):
            return final
        started = time.monotonic()
        interpreter = await choose(env.python, f"the {env.source}")
        if interpreter.note is not None:
            _say(sink, WARNING_STREAM, interpreter.note)
        _say(
            sink,
            BUILD_STREAM,
            f"building venv {digest} from {env.source} with uv on Python {interpreter.version}: "
            f"{len(env.requirements)} requirement(s) and the worker's "
            f"{', '.join(env.worker_requirements)}",
        )
        staging = root / f".{digest}.partial"
        await _discard(staging)  # left by a build that was killed
        await _discard(final)  # unusable, or it would have been returned above
        try:
            python = await _create_venv(staging, digest, interpreter.path, cache_dir, sink)
            requirements = requirements_file(env, staging, interpreter.version)
            await resolve_with_uv(
                ["install", "--python", str(python), "-r", str(requirements)],
                env,
                interpreter.version,
                cache_dir,
                sink,
            )
            await asyncio.to_thread(_relocate, staging, final)
            staging.rename(final)
        except BaseException:
            with contextlib.suppress(OSError):  # the build's own failure is the one to report
                await _discard(staging)
            raise
        _say(sink, BUILD_STREAM, f"venv {digest} built in {time.monotonic() - started:.1f} s")
        return final


async def _create_venv(
    target: Path, digest: str, interpreter: str, cache_dir: Path, sink: LogSink
) -> Path:
    # The prompt would otherwise be the staging folder's name.
    argv = ["venv", "--quiet", "--python", interpreter, "--prompt", f"epdev-{digest}"]
    code, tail = await run_uv([*argv, str(target)], sink, uv_environment(cache_dir))
    if code != 0:
        raise InstanceFailed(
            f"could not create a venv with {interpreter}: {_last_line(tail, code)}"
        )
    return target / "bin" / "python"


def _last_line(lines: list[str], code: int) -> str:
    for line in reversed(lines):
        if line.strip():
            text = line.strip()
            return f"{text if len(text) <= 300 else text[:297] + '...'} (exit code {code})"
    return f"exit code {code}"


@contextlib.asynccontextmanager
async def _locked(path: Path, on_wait: Callable[[], None] | None = None) -> AsyncIterator[None]:
    """An exclusive flock on `path`, polled so that waiting neither blocks the event loop nor
    resists cancellation. Separate opens conflict even within one process; the kernel drops
    the lock of a process that dies, and the descriptor is not inherited by pip."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        waited = False
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not waited and on_wait is not None:
                    on_wait()
                waited = True
                await asyncio.sleep(LOCK_POLL_SECONDS)
        yield
    finally:
        os.close(fd)


async def _discard(path: Path) -> None:
    """Remove a folder; the rename is instant, so a stopped build never leaves it half-removed
    under the name the next build uses."""
    if not path.exists() and not path.is_symlink():
        return
    trash = path.with_name(f"{path.name}.trash-{uuid.uuid4().hex[:8]}")
    path.rename(trash)
    await asyncio.to_thread(shutil.rmtree, trash, True)


def _relocate(staging: Path, final: Path) -> None:
    """Point the venv's scripts at the folder it is about to be renamed to.

    Python finds its venv from the interpreter's location, but pip wrote the staging path into
    the scripts' shebangs and `activate` into VIRTUAL_ENV.
    """
    old, new = str(staging).encode(), str(final).encode()
    for path in [*(staging / "bin").iterdir(), staging / "pyvenv.cfg"]:
        if path.is_symlink() or not path.is_file() or path.stat().st_size > 1 << 20:
            continue
        data = path.read_bytes()
        if old in data:
            path.write_bytes(data.replace(old, new))


def _say(sink: LogSink, stream: str, line: str) -> None:
    try:
        sink(stream, line)
    except Exception:
        logger.exception("the log sink failed on a %s line", stream)


if TYPE_CHECKING:  # VenvRuntime and its instances honour the contract
    _runtime: Runtime = VenvRuntime()
