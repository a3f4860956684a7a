"""A Docker instance: one container of the deployment's environment image, from its start
(image, container, `init()`) through its logs, exit and usage to its removal.

The container's layout is epdev.runtimes.container_layout's; its labels are
epdev.runtimes.container_orphans'. Short engine calls run in `asyncio.to_thread`; the calls that
last as long as the container (log streams, wait) each get a thread of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import math
import signal
import tarfile
import uuid
from collections import deque
from pathlib import Path
from typing import TYPE_CHECKING, Any

import docker
import httpx
from docker.models.containers import Container

from epdev.runtimes.container_layout import (
    CONTAINER_PORT,
    STATUS_FILE,
    container_environment,
    container_name,
    host_port,
    layout,
    worker_command,
)
from epdev.runtimes.container_orphans import (
    LABEL_DEPLOYMENT,
    LABEL_ENDPOINT,
    LABEL_HOME,
    LABEL_INSTANCE,
    LABEL_RUN,
    home_of,
)
from epdev.runtimes.engine import EngineErrors, connect, engine_reason
from epdev.runtimes.instance import InstanceFailed, InstanceSpec, InstanceState, LogSink
from epdev.runtimes.process import last_meaningful
from epdev.runtimes.readiness import ready_or_exit
from epdev.runtimes.threads import loop_sink, start_thread

if TYPE_CHECKING:
    from epdev.runtimes.docker import DockerRuntime

TAIL_LINES = 50
POLL_SECONDS = 0.05
PROBE_TIMEOUT = 2.0
DRAIN_SECONDS = 1.0


class DockerInstance:
    """One container. See epdev.runtimes.instance.Instance for the contract.

    Besides the contract: `image` (the tag it runs), `built` (whether starting it built that
    image), `container_id` and `usage()` (CPU and memory as the engine counts them).
    """

    def __init__(self, spec: InstanceSpec, sink: LogSink, runtime: DockerRuntime) -> None:
        self.spec = spec
        self.state = InstanceState.STARTING
        self.image: str | None = None
        self.built = False
        self._sink = sink
        self._runtime = runtime
        self._run_id = uuid.uuid4().hex
        self._client: docker.DockerClient | None = None
        self._container: Container | None = None
        self._port: int | None = None
        self._exited: asyncio.Future[int] | None = None
        self._exit_hint = ""
        self._pumps: list[asyncio.Future[None]] = []
        self._stderr_tail: deque[str] = deque(maxlen=TAIL_LINES)
        self._threadsafe_sink: LogSink = sink
        self._started = False
        self._starting = False
        self._stopping = False
        self._stop_task: asyncio.Future[None] | None = None

    @property
    def url(self) -> str:
        if self._port is None:
            raise RuntimeError(f"instance {self.spec.name} has not been started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def pid(self) -> int | None:
        # The container's processes belong to the engine (maybe on another machine); usage()
        # reads their CPU and memory instead.
        return None

    @property
    def container_id(self) -> str | None:
        return None if self._container is None else self._container.id

    async def start(self, ready_timeout: float) -> None:
        """Build the image if needed, run the container, wait for `init()`.

        `ready_timeout` counts from the container's start: a cold image build comes before and
        is bounded by the engine's silence (images.BUILD_TIMEOUT), not by the start budget.
        """
        if self._started:
            raise RuntimeError(f"instance {self.spec.name} was already started")
        self._started = True
        if self._stopping:
            raise InstanceFailed(f"instance {self.spec.name} was stopped before it started")
        self._threadsafe_sink = loop_sink(self._sink)
        self._starting = True
        try:
            self._client = client = await asyncio.to_thread(connect, self._runtime.client_factory)
            prepared = await self._runtime.images.prepare(
                client,
                self.spec.environment,
                self.spec.cache_dir,
                self._say,
                self._sink,
                say_once=lambda line: self._runtime.say_once(self.spec, self._sink, line),
            )
            self.image, self.built = prepared.tag, prepared.built
            self._raise_if_stopping()
            await self._run(client, prepared.tag)
            self._raise_if_stopping()
            await self._await_ready(ready_timeout)
        except BaseException:
            self.state = InstanceState.FAILED
            self._starting = False
            # Also when stop() ran meanwhile: what start made since then goes now.
            await self.stop(grace=0)
            raise
        finally:
            self._starting = False

    def _raise_if_stopping(self) -> None:
        if self._stopping:
            raise InstanceFailed(f"instance {self.spec.name} was stopped while it started")

    def _say(self, line: str) -> None:
        with contextlib.suppress(Exception):
            self._sink("epdev", line)

    async def _run(self, client: docker.DockerClient, image: str) -> None:
        spec = self.spec
        where = await asyncio.to_thread(layout, spec)
        command = worker_command(spec)
        labels = {
            LABEL_ENDPOINT: spec.endpoint,
            LABEL_DEPLOYMENT: spec.deployment,
            LABEL_INSTANCE: spec.name,
            LABEL_HOME: home_of(spec),
            LABEL_RUN: self._run_id,
        }
        name = container_name(spec, self._run_id)

        def run() -> Container:
            container = client.containers.run(
                image,
                command,
                detach=True,
                name=name,
                labels=labels,
                environment=container_environment(spec, where),
                working_dir=str(where.app_root),
                ports={f"{CONTAINER_PORT}/tcp": ("127.0.0.1", 0)},
                mounts=where.mounts,
                tmpfs=where.tmpfs,
                init=True,  # tini as PID 1: signals reach the worker, zombies are reaped
            )
            container.reload()
            return container

        creating = asyncio.ensure_future(asyncio.to_thread(run))
        try:
            self._container = container = await asyncio.shield(creating)
        except EngineErrors as exc:
            raise InstanceFailed(
                f"could not start a container of {image}: {engine_reason(exc)}"
            ) from None
        except asyncio.CancelledError:
            # A delete cancelled the start, but the engine call goes on in its thread: the stop
            # that follows must see the container it makes, or the container outlives the delete.
            with contextlib.suppress(*EngineErrors):
                self._container = await creating
            raise
        self._say(f"container {container.name} ({(container.id or '')[:12]}) of image {image}")
        self._port = host_port(container)
        container_id = container.id or name
        self._pumps = [
            start_thread(lambda: self._pump(client, container_id, "stdout"), f"{name} stdout"),
            start_thread(lambda: self._pump(client, container_id, "stderr"), f"{name} stderr"),
        ]
        self._exited = start_thread(lambda: self._wait(client, container_id), f"{name} wait")
        self._exited.add_done_callback(self._on_exit)

    def _pump(self, client: docker.DockerClient, container_id: str, stream: str) -> None:
        """Send the container's `stream` to the sink line by line, until the container ends."""
        post = self._post_line
        pending = b""
        try:
            chunks = client.api.logs(
                container_id,
                stdout=stream == "stdout",
                stderr=stream == "stderr",
                stream=True,
                follow=True,
            )
            try:
                for chunk in chunks:
                    pending += chunk
                    if b"\n" in chunk:
                        *lines, pending = pending.split(b"\n")
                        for line in lines:
                            post(stream, line)
            finally:
                chunks.close()
        except EngineErrors:
            pass  # the container or the engine went away: its output ends here
        if pending:
            post(stream, pending)

    def _post_line(self, stream: str, raw: bytes) -> None:
        line = raw.decode("utf-8", "replace").removesuffix("\r")
        if stream == "stderr":
            self._stderr_tail.append(line)
        self._threadsafe_sink(stream, line)

    def _wait(self, client: docker.DockerClient, container_id: str) -> int:
        try:
            return int(client.api.wait(container_id, timeout=None)["StatusCode"])
        except EngineErrors:
            return -1  # removed behind our back or the engine is gone: it is not running

    def _on_exit(self, exited: asyncio.Future[int]) -> None:
        if not self._stopping and self.state == InstanceState.READY:
            self.state = InstanceState.FAILED

    async def _await_ready(self, timeout: float) -> None:
        exited = self._exited
        assert exited is not None
        probe, timed_out = await ready_or_exit(self._probe(), exited, timeout)
        if probe is not None and not exited.done():
            probe.result()
            self.state = InstanceState.READY
            return
        if timed_out:
            raise InstanceFailed(f"init() did not finish within {timeout:g} s")
        code = exited.result()
        status = await asyncio.to_thread(self._read_status)
        await self._drain()
        reason = status.removeprefix("error").strip() if status.startswith("error") else ""
        if reason:
            raise InstanceFailed(f"{reason} ({describe_status(code)})")
        raise InstanceFailed(
            f"the container exited with {describe_status(code)} before it was ready: "
            f"{last_meaningful(self._stderr_tail)}"
        )

    def _read_status(self) -> str:
        """What the worker wrote on its ready fd, from the exited container's file system."""
        client, container = self._client, self._container
        if client is None or container is None:
            return ""
        try:
            chunks, _ = container.get_archive(STATUS_FILE)
            with tarfile.open(fileobj=io.BytesIO(b"".join(chunks))) as tar:
                member = tar.extractfile(Path(STATUS_FILE).name)
                data = b"" if member is None else member.read(64 * 1024)
        except (*EngineErrors, tarfile.TarError, KeyError):
            return ""
        return data.decode("utf-8", "replace").strip()

    async def _probe(self) -> None:
        """Return once GET / answers 200: the worker serves only after init() returned."""
        async with httpx.AsyncClient(base_url=self.url, timeout=PROBE_TIMEOUT) as client:
            while True:
                # Until the worker listens, the engine's port proxy accepts and then hangs up.
                with contextlib.suppress(httpx.HTTPError):
                    response = await client.get("/")
                    if response.status_code == 200:
                        return
                await asyncio.sleep(POLL_SECONDS)

    async def _drain(self) -> None:
        """Let the log threads deliver an ended container's last lines, briefly."""
        pumps = [p for p in self._pumps if not p.done()]
        if pumps:
            await asyncio.wait(pumps, timeout=DRAIN_SECONDS)
        await asyncio.sleep(0)  # lines posted from the threads are queued on the loop

    async def stop(self, grace: float = 5.0) -> None:
        self._stopping = True
        # A stop during start() leaves the client open for start() to finish with, and
        # start() then stops again: a finished stop that left a client behind runs once more.
        previous = self._stop_task
        if previous is None or (previous.done() and self._client is not None):
            self._stop_task = asyncio.ensure_future(self._stop(grace))
        assert self._stop_task is not None
        await asyncio.shield(self._stop_task)

    async def _stop(self, grace: float) -> None:
        client = self._client
        if client is not None:
            await asyncio.to_thread(self._remove_containers, client, grace)
            if self._exited is not None:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(self._exited), DRAIN_SECONDS)
            await self._drain()
            if not self._starting:
                self._client = None
                client.close()
        if self.state != InstanceState.FAILED:
            self.state = InstanceState.STOPPED

    def _remove_containers(self, client: docker.DockerClient, grace: float) -> None:
        try:
            found = client.containers.list(
                all=True, filters={"label": f"{LABEL_RUN}={self._run_id}"}, sparse=True
            )
        except EngineErrors:
            found = [] if self._container is None else [self._container]
        for container in found:
            with contextlib.suppress(*EngineErrors):
                container.stop(timeout=max(0, math.ceil(grace)))
            with contextlib.suppress(*EngineErrors):
                container.remove(force=True)

    async def wait(self) -> int:
        if self._exited is None:
            raise RuntimeError(f"instance {self.spec.name} has not been started")
        code = await asyncio.shield(self._exited)
        # Judged before the container goes (the engine knows whether the OOM killer ended it)
        # and before stopping it counts as epdev's own doing.
        self._exit_hint = await asyncio.to_thread(self._hint, code)
        # The instance has ended once its container is gone. A supervisor replaces an instance
        # that died rather than stopping it, so without this the exited container (and the
        # engine connection) would stay until the next devserver start, outliving a delete.
        await self.stop(grace=0)
        return code

    def exit_reason(self, code: int) -> str:
        return describe_status(code) + self._exit_hint

    def _hint(self, code: int) -> str:
        """A memory hint for a container that was killed ("" otherwise)."""
        client, container_id = self._client, self.container_id
        state: dict[str, Any] = {}
        if client is not None and container_id is not None:
            with contextlib.suppress(*EngineErrors):
                state = client.api.inspect_container(container_id).get("State") or {}
        if state.get("OOMKilled"):
            return (
                "; the engine reports the out-of-memory killer ended it: it needs more memory "
                "than the machine gives it"
            )
        if code == 128 + signal.SIGKILL and not self._stopping:
            return (
                "; it was killed from outside the devserver (docker kill, or the kernel's "
                "out-of-memory killer when memory runs short)"
            )
        return ""

    async def usage(self) -> tuple[float, int] | None:
        """(CPU seconds used so far, memory in use in bytes) from the engine, None if gone."""
        client, container_id = self._client, self.container_id
        if client is None or container_id is None or self.state != InstanceState.READY:
            return None
        try:
            stats = await asyncio.to_thread(
                client.api.stats, container_id, stream=False, one_shot=True
            )
        except EngineErrors:
            return None
        return _usage(stats)


def _usage(stats: dict[str, Any]) -> tuple[float, int] | None:
    cpu = (stats.get("cpu_stats") or {}).get("cpu_usage") or {}
    memory = stats.get("memory_stats") or {}
    if "total_usage" not in cpu or "usage" not in memory:
        return None
    # As `docker stats` counts it: the page cache the kernel can drop is not the app's memory.
    details = memory.get("stats") or {}
    cache = details.get("inactive_file", details.get("total_inactive_file", 0))
    return cpu["total_usage"] / 1e9, max(0, int(memory["usage"]) - int(cache))


def describe_status(code: int) -> str:
    """A container's exit status; above 128 it is 128 plus the signal that ended it."""
    if code > 128:
        with contextlib.suppress(ValueError):
            return f"exit code {code} ({signal.Signals(code - 128).name})"
    return f"exit code {code}"
