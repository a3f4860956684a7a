"""Runs the instances of one deployment, replaces them on update and restarts those that die."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import itertools
import shutil
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from epdev.devserver.errors import BadRequest
from epdev.devserver.logs import DeploymentLog
from epdev.devserver.registry import Registry
from epdev.runtimes import Instance, InstanceFailed, InstanceSpec, Runtime
from epdev.runtimes.environment import RuntimeEnvironment
from epdev.runtimes.environment import resolve as resolve_environment
from epdev.runtimes.mlflow_registry import fetch_registered_model
from epdev.specs import OnlineDeployment

# Backoff between restarts of an instance that keeps dying, in seconds.
_RESTART_BACKOFF = (0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0)


class ProvisioningState(enum.StrEnum):
    CREATING = "Creating"
    UPDATING = "Updating"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    DELETING = "Deleting"


class DeploymentFailed(Exception):
    """A deployment's instances could not be brought up; the message says why."""


@dataclass(eq=False)
class Slot:
    """One ready instance as the router sees it."""

    instance: Instance
    url: str
    inflight: int = 0


@dataclass
class Pool:
    """The ready instances of a deployment; requests go to the one with the fewest in flight."""

    slots: list[Slot] = field(default_factory=list)
    _turn: itertools.count[int] = field(default_factory=itertools.count)
    # Requests waiting for a slot under max_concurrent_requests_per_instance, oldest first.
    _waiters: deque[asyncio.Future[Slot]] = field(default_factory=deque)

    def pick(self) -> Slot | None:
        slots = self.slots
        if not slots:
            return None
        if len(slots) == 1:
            return slots[0]
        # Rotate the starting point so ties spread evenly instead of piling on the first slot.
        start = next(self._turn) % len(slots)
        best = slots[start]
        for offset in range(1, len(slots)):
            slot = slots[(start + offset) % len(slots)]
            if slot.inflight < best.inflight:
                best = slot
        return best

    def _take(self, limit: int) -> Slot | None:
        slot = self.pick()
        if slot is None or slot.inflight >= limit:
            return None
        slot.inflight += 1
        return slot

    async def acquire(self, limit: int, wait: float) -> Slot | None:
        """A slot with fewer than `limit` requests in flight, waiting up to `wait` seconds in
        line (first come, first served) when every instance is at the limit; None if none."""
        slot = self._take(limit)
        if slot is not None or not self.slots or wait <= 0:
            return slot
        waiter: asyncio.Future[Slot] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter, wait)
        except TimeoutError:
            return None
        finally:
            if not waiter.done():
                waiter.cancel()

    def release(self, slot: Slot, limit: int) -> None:
        """A request on `slot` finished: hand its place to the longest waiting request."""
        slot.inflight -= 1
        while self._waiters:
            waiter = self._waiters.popleft()
            if waiter.done():
                continue  # gave up waiting
            handed = slot if slot in self.slots and slot.inflight < limit else self._take(limit)
            if handed is None:
                self._waiters.appendleft(waiter)
                return
            if handed is slot:
                slot.inflight += 1
            waiter.set_result(handed)
            return


@dataclass
class _Generation:
    """The instances of one version of the deployment's spec."""

    number: int
    spec: OnlineDeployment
    instances: list[Instance] = field(default_factory=list)
    watchers: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: bool = False
    # The local model folder, once an MLflow registry URI has been fetched.
    model_path: Path | None = None


class DeploymentRunner:
    """Owns the instances of one deployment."""

    def __init__(
        self,
        endpoint: str,
        spec: OnlineDeployment,
        *,
        runtime: Runtime,
        work_root: Path,
        log: DeploymentLog,
        on_pids: Callable[[int, bool], None] = lambda pid, alive: None,
        cache_dir: Path = Path(),
        models: Registry | None = None,
    ) -> None:
        self.cache_dir = cache_dir
        self.models = models
        self.endpoint = endpoint
        self.name = spec.name
        self.spec = spec
        self.runtime = runtime
        self.work_root = work_root
        self.log = log
        self.pool = Pool()
        self.state = ProvisioningState.CREATING
        self.error: str | None = None
        self._on_pids = on_pids
        self._current: _Generation | None = None
        # Every generation with instances up or coming up; two of them during a rollout.
        self._live: list[_Generation] = []
        self.restarts: dict[str, int] = {}
        self._generations = itertools.count(1)
        self._lock = asyncio.Lock()
        self._closed = False

    @property
    def ready_instances(self) -> int:
        return len(self.pool.slots)

    def instances(self) -> list[Instance]:
        """Every instance this deployment has now, ready or not: what the cloud would bill."""
        return [inst for generation in self._live for inst in generation.instances]

    def note(self, message: str) -> None:
        self.log.write("epdev", "info", message)

    async def start(self, spec: OnlineDeployment | None = None) -> None:
        """Bring up (or, with a new spec, replace) the instances; raise DeploymentFailed on error.

        New instances start beside the old ones and take over only once all are ready, so an
        update that fails leaves the previous version serving.
        """
        async with self._lock:
            if self._closed:
                raise DeploymentFailed("the deployment was deleted")
            spec = spec or self.spec
            generation = _Generation(next(self._generations), spec)
            self._live.append(generation)
            try:
                generation.model_path = await self._model_path(spec)
            except (InstanceFailed, BadRequest) as exc:
                self._live.remove(generation)
                self.note(f"deployment failed: {exc}")
                raise DeploymentFailed(str(exc)) from None
            self.note(
                f"starting {spec.instance_count} instance(s) with the {self.runtime.name} runtime"
            )
            try:
                # A TaskGroup cancels the other starts as soon as one instance fails.
                async with asyncio.TaskGroup() as group:
                    for index in range(spec.instance_count):
                        group.create_task(self._start_one(generation, index))
            except BaseException as exc:
                await self._stop_generation(generation)
                first = _first_error(exc)
                if first is None:
                    raise
                message = (
                    str(first)
                    if isinstance(first, InstanceFailed | DeploymentFailed)
                    else f"{type(first).__name__}: {first}"
                )
                self.note(f"deployment failed: {message}")
                raise DeploymentFailed(message) from None
            previous, self._current, self.spec = self._current, generation, spec
            self.pool.slots = [Slot(inst, inst.url) for inst in generation.instances]
            generation.watchers = [
                asyncio.create_task(self._watch(generation, i)) for i in range(spec.instance_count)
            ]
            self.note(f"all {spec.instance_count} instance(s) ready")
        if previous is not None:
            await self._stop_generation(previous, drain=True)

    async def stop(self) -> None:
        """Stop every instance for good."""
        self._closed = True
        async with self._lock:
            generation, self._current = self._current, None
            self.pool.slots = []
        if generation is not None:
            await self._stop_generation(generation)

    async def _model_path(self, spec: OnlineDeployment) -> Path | None:
        """The local model: the spec's path, a registered `azureml:` model, or an MLflow registry
        URI fetched into the cache."""
        if isinstance(spec.model, str) and self.models is not None:
            asset = self.models.model(spec.model, without_code=spec.code_configuration is None)
            self.note(
                f"model {spec.model} is {asset.name}:{asset.version} ({asset.type}), "
                f"in {asset.path}"
            )
            return asset.path
        uri = spec.model_uri
        if uri is None:
            return spec.model_path
        self.note(f"fetching registered MLflow model {uri}")
        folder, version = await asyncio.to_thread(
            fetch_registered_model, uri, spec.environment_variables, self.cache_dir
        )
        self.note(f"{uri} is version {version}, in {folder}")
        return folder

    def instance_spec(
        self, spec: OnlineDeployment, generation: int, index: int, model_path: Path | None = None
    ) -> InstanceSpec:
        """What one instance runs: `model_path` is the local model (a fetched registry URI),
        else the spec's own path."""
        model_path = model_path or spec.model_path
        code = spec.code_configuration
        mlflow = code is None and spec.is_mlflow
        if code is None and not mlflow:
            raise DeploymentFailed("this deployment has no code_configuration to run")
        if mlflow and model_path is None:
            raise DeploymentFailed("this MLflow deployment's model has no path")
        batching = spec.batching
        return InstanceSpec(
            endpoint=self.endpoint,
            deployment=self.name,
            index=index,
            # An MLflow model runs in its own folder, with no script.
            code_dir=code.code if code is not None else model_path or Path(),
            scoring_script=code.scoring_script if code is not None else "",
            model_path=model_path,
            environment_variables=dict(spec.environment_variables),
            max_concurrent_requests=spec.concurrent_requests_per_instance,
            work_dir=self.work_root / f"g{generation}-{index}",
            environment=self._environment(spec, model_path),
            cache_dir=self.cache_dir,
            mlflow=mlflow,
            max_batch_size=batching.max_batch_size if batching.enabled else 1,
            max_batch_latency_ms=batching.max_latency_ms,
        )

    def _environment(
        self, spec: OnlineDeployment, model_path: Path | None
    ) -> RuntimeEnvironment | None:
        """What an isolated runtime must rebuild; the process runtime runs as it is."""
        if self.runtime.name == "process":
            return None
        env = spec.environment
        if isinstance(env, str):
            raise DeploymentFailed(
                f"environment: {env!r} is a registered environment; the {self.runtime.name} "
                "runtime builds inline environments (image with conda_file, or build)"
            )
        code = spec.code_configuration
        return resolve_environment(
            conda_file=env.conda_file if env else None,
            code_dir=code.code if code else None,
            model_path=model_path,
            serves_mlflow=code is None,
            image=env.image if env else None,
            build_context=env.build.path if env and env.build else None,
            dockerfile=env.build.dockerfile_path if env and env.build else "Dockerfile",
        )

    async def _start_one(self, generation: _Generation, index: int) -> None:
        spec = self.instance_spec(generation.spec, generation.number, index, generation.model_path)
        instance = self.runtime.create_instance(spec, self._sink(spec.name))
        generation.instances.append(instance)
        timeout = generation.spec.readiness_probe.budget_seconds
        await instance.start(timeout)
        if instance.pid is not None:
            self._on_pids(instance.pid, True)

    def _sink(self, source: str) -> Callable[[str, str], None]:
        def write(stream: str, line: str) -> None:
            self.log.write(source, stream, line)

        return write

    async def _watch(self, generation: _Generation, index: int) -> None:
        """Restart the instance at `index` whenever it dies, with growing pauses."""
        failures = 0
        while True:
            instance = generation.instances[index]
            code = await instance.wait()
            if instance.pid is not None:
                self._on_pids(instance.pid, False)
            self._remove_slot(instance)
            if generation.stopping or self._closed:
                return
            self.restarts[instance.spec.name] = self.restarts.get(instance.spec.name, 0) + 1
            pause = _RESTART_BACKOFF[min(failures, len(_RESTART_BACKOFF) - 1)]
            self.note(
                f"instance {instance.spec.name} exited with code {code}; restarting in {pause:g} s"
            )
            await asyncio.sleep(pause)
            if generation.stopping or self._closed:
                return
            spec = self.instance_spec(
                generation.spec, generation.number, index, generation.model_path
            )
            replacement = self.runtime.create_instance(spec, self._sink(spec.name))
            generation.instances[index] = replacement
            try:
                await replacement.start(generation.spec.readiness_probe.budget_seconds)
            except InstanceFailed as exc:
                failures += 1
                self.note(f"instance {spec.name} failed to restart: {exc}")
                continue
            if generation.stopping or self._closed:
                await replacement.stop()
                return
            failures = 0
            if replacement.pid is not None:
                self._on_pids(replacement.pid, True)
            self.pool.slots = [*self.pool.slots, Slot(replacement, replacement.url)]
            self.note(f"instance {spec.name} is back")

    def _remove_slot(self, instance: Instance) -> None:
        self.pool.slots = [slot for slot in self.pool.slots if slot.instance is not instance]

    async def _stop_generation(self, generation: _Generation, *, drain: bool = False) -> None:
        generation.stopping = True
        slots = [s for s in self.pool.slots if s.instance in generation.instances]
        self.pool.slots = [s for s in self.pool.slots if s not in slots]
        if drain:
            # Requests already sent to the old instances finish before they stop.
            for _ in range(100):
                if all(slot.inflight == 0 for slot in slots):
                    break
                await asyncio.sleep(0.05)
        for watcher in generation.watchers:
            watcher.cancel()
        for watcher in generation.watchers:
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        await asyncio.gather(
            *(inst.stop() for inst in generation.instances), return_exceptions=True
        )
        for inst in generation.instances:
            if inst.pid is not None:
                self._on_pids(inst.pid, False)
            shutil.rmtree(inst.spec.work_dir, ignore_errors=True)
        self._live = [g for g in self._live if g is not generation]


def _first_error(exc: BaseException) -> Exception | None:
    """The first ordinary error inside a (possibly nested) exception group, if any."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_error(inner)
            if found is not None:
                return found
        return None
    return exc if isinstance(exc, Exception) else None
