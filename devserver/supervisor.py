"""Runs the instances of one deployment, replaces them on update and restarts those that die.

It keeps the deployment's `Pool` (devserver/pool.py) in step with the ready instances; the router
reads that pool and never this module. The runner's provisioning state is its `Provisioning`
(provisioning.py). What stands alone lives apart: the restart policy (restarts.py), the health
records (instancehealth.py), instance specs (instancespecs.py) and the recycling of stuck
instances (stuck.py). The rest stays in one module, past 450 lines, because rollouts, rescaling
and restarts all change the same generations and pool under the runner's one lock.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from epdev.devserver.assets import Registry
from epdev.devserver.autoscale import run as autoscale
from epdev.devserver.environments import Environments
from epdev.devserver.errors import BadRequest
from epdev.devserver.instancehealth import HealthState, InstanceHealth, summary
from epdev.devserver.instancespecs import InstanceSpecs
from epdev.devserver.limits import start_parallelism
from epdev.devserver.logs import DeploymentLog
from epdev.devserver.pool import Pool, Slot
from epdev.devserver.probes import watch as probe
from epdev.devserver.provisioning import (
    DeploymentFailed,
    Provisioning,
    ProvisioningState,
)
from epdev.devserver.restarts import Backoff
from epdev.devserver.store import DeploymentRow
from epdev.devserver.stuck import watch as watch_stuck
from epdev.runtimes import Instance, InstanceFailed, InstanceSpec, Runtime
from epdev.specs import OnlineDeployment


@dataclass
class _Generation:
    """The instances of one version of the deployment's spec."""

    number: int
    spec: OnlineDeployment
    instances: list[Instance] = field(default_factory=list)
    health: list[InstanceHealth] = field(default_factory=list)
    watchers: list[asyncio.Task[None]] = field(default_factory=list)
    stopping: bool = False
    # The local model folder, once an MLflow registry URI has been fetched.
    model_path: Path | None = None


class DeploymentRunner:
    """Owns the instances of one deployment, and its provisioning state.

    The state changes only through `provisioning`'s transitions, which write the deployment's
    store row (a runner given none has a new Creating row that it stores nowhere).
    """

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
        start_gate: asyncio.Semaphore | None = None,
        environments: Environments | None = None,
        provisioning: Provisioning | None = None,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.provisioning = provisioning or Provisioning.new(endpoint, spec, runtime.name)
        self._backoff = backoff
        self.endpoint = endpoint
        self.name = spec.name
        self.spec = spec
        self._runtime = runtime
        self.log = log
        self.specs = InstanceSpecs(
            endpoint, spec.name, work_root, self.note, cache_dir, models, environments
        )
        self.pool = Pool(on_timeout=self._on_request_timeout)
        self._start_gate = start_gate or asyncio.Semaphore(start_parallelism())
        # Instances being watched after a request timed out on them, and why those recycled
        # for it were stopped.
        self._stuck_watchers: set[asyncio.Task[None]] = set()
        self.recycled: dict[Instance, str] = {}
        self._on_pids = on_pids
        self._current: _Generation | None = None
        # Every generation with instances up or coming up; two of them during a rollout.
        self._live: list[_Generation] = []
        self.restarts: dict[str, int] = {}
        self._generations = itertools.count(1)
        self._lock = asyncio.Lock()
        self._closed = False
        self._autoscaler: asyncio.Task[None] | None = None

    @property
    def row(self) -> DeploymentRow:
        return self.provisioning.row

    @property
    def state(self) -> ProvisioningState:
        return self.provisioning.state

    @property
    def error(self) -> str | None:
        return self.provisioning.error

    @property
    def runtime(self) -> Runtime:
        return self._runtime

    def use_runtime(self, runtime: Runtime) -> None:
        """The next instances start on `runtime`; those running stop where they run."""
        self._runtime = runtime
        self.row.runtime = runtime.name

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
        update that fails leaves the previous version serving. An update that changes only the
        instance count (or the scale settings) adds or removes instances in place instead.
        """
        async with self._lock:
            if self._closed:
                raise DeploymentFailed("the deployment was deleted")
            spec = spec or self.spec
            current = self._current
            if current is not None and _same_but_scale(current.spec, spec):
                await self._rescale(current, spec)
                self._autoscale()
                return
            generation = _Generation(next(self._generations), spec)
            self._live.append(generation)
            try:
                generation.model_path = await self.specs.model_path(spec)
            except (InstanceFailed, BadRequest) as exc:
                self._live.remove(generation)
                self.note(f"deployment failed: {exc}")
                raise DeploymentFailed(str(exc)) from None
            self.note(
                f"starting {spec.instance_count} instance(s) with the {self.runtime.name} runtime"
            )
            try:
                await self._start_many(generation, range(spec.instance_count))
            except DeploymentFailed:
                await self._stop_generation(generation)
                raise
            previous, self._current, self.spec = self._current, generation, spec
            self.pool.slots = [Slot(inst, inst.url) for inst in generation.instances]
            generation.watchers = [
                asyncio.create_task(self._watch(generation, i)) for i in range(spec.instance_count)
            ]
            self.note(f"all {spec.instance_count} instance(s) ready")
        self._autoscale()
        if previous is not None:
            await self._stop_generation(previous, drain=True)

    async def scale_to(self, count: int) -> bool:
        """Add or remove instances in place (for the autoscaler); False when nothing changed:
        the deployment is busy with a rollout, stopped, or the new instances failed to start."""
        if self._lock.locked() or self._closed:
            return False
        async with self._lock:
            current = self._current
            if current is None or current.stopping:
                return False
            try:
                await self._rescale(
                    current, current.spec.model_copy(update={"instance_count": count})
                )
            except DeploymentFailed as exc:
                self.note(f"scaling to {count} instance(s) failed, the others keep serving: {exc}")
                return False
            return True

    async def stop(self) -> None:
        """Stop every instance for good, once the requests they are handling have finished."""
        self._closed = True
        for watcher in list(self._stuck_watchers):
            watcher.cancel()
        if self._autoscaler is not None:
            self._autoscaler.cancel()
            await asyncio.gather(self._autoscaler, return_exceptions=True)
        async with self._lock:
            generation, self._current = self._current, None
        if generation is not None:
            await self._stop_generation(generation, drain=True)
        # A rollout or a first start cut short (a delete cancels it) leaves its generation
        # here, with the instances that were already ready: they go too, before stop returns.
        for other in list(self._live):
            await self._stop_generation(other)
        self.pool.slots = []

    def health(self) -> dict[str, object]:
        """The instances' probe and restart states, for the deployment's view."""
        instances = [h for generation in self._live for h in generation.health]
        return summary(instances, failed=self.state == ProvisioningState.FAILED)

    async def _start_many(self, generation: _Generation, indices: range) -> None:
        """Start the instances at `indices` together; DeploymentFailed when any fails (the
        others are then cancelled, and left in `generation` for the caller to stop)."""
        try:
            # A TaskGroup cancels the other starts as soon as one instance fails.
            async with asyncio.TaskGroup() as group:
                for index in indices:
                    group.create_task(self._start_one(generation, index))
        except BaseException as exc:
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

    async def _rescale(self, generation: _Generation, spec: OnlineDeployment) -> None:
        """Bring the current generation to `spec.instance_count` instances in place: new ones
        join the pool once ready; leaving ones leave it first and stop once drained."""
        have, want = len(generation.instances), spec.instance_count
        if want > have:
            self.note(f"scaling up from {have} to {want} instance(s)")
            try:
                await self._start_many(generation, range(have, want))
            except DeploymentFailed:
                await self._retire_instances(generation, have)
                raise
            added = generation.instances[have:]
            self.pool.slots = [*self.pool.slots, *(Slot(i, i.url) for i in added)]
            generation.watchers += [
                asyncio.create_task(self._watch(generation, i)) for i in range(have, want)
            ]
            self.note(f"all {want} instance(s) ready")
        elif want < have:
            self.note(f"scaling down from {have} to {want} instance(s)")
            await self._retire_instances(generation, want)
        generation.spec = self.spec = spec

    async def _retire_instances(self, generation: _Generation, keep: int) -> None:
        """Drain and stop the instances of `generation` from index `keep` on."""
        watchers = generation.watchers[keep:]
        for watcher in watchers:
            watcher.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        leaving = generation.instances[keep:]
        del generation.instances[keep:], generation.health[keep:], generation.watchers[keep:]
        slots = [s for s in self.pool.slots if s.instance in leaving]
        self.pool.slots = [s for s in self.pool.slots if s not in slots]
        await self._drain(slots)
        await self._stop_instances(leaving)

    async def _start_one(self, generation: _Generation, index: int) -> None:
        spec = self._instance_spec(generation, index)
        instance = self.runtime.create_instance(spec, self._sink(spec.name))
        generation.instances.append(instance)
        health = InstanceHealth(spec.name)
        generation.health.append(health)
        timeout = generation.spec.start_budget_seconds
        async with self._start_gate:
            await instance.start(timeout)
        health.state, health.pid = HealthState.READY, instance.pid
        if instance.pid is not None:
            self._on_pids(instance.pid, True)

    def _instance_spec(self, generation: _Generation, index: int) -> InstanceSpec:
        return self.specs.instance_spec(
            generation.spec, self.runtime.name, generation.number, index, generation.model_path
        )

    def _sink(self, source: str) -> Callable[[str, str], None]:
        def write(stream: str, line: str) -> None:
            self.log.write(source, stream, line)

        return write

    async def _watch(self, generation: _Generation, index: int) -> None:
        """Probe the instance at `index`, and restart it whenever it dies or fails its
        liveness probe, with growing pauses while it keeps failing."""
        health = generation.health[index]
        instance = generation.instances[index]
        backoff = self._backoff()
        while True:
            backoff.running()
            reason = await self._run_until_exit(generation, instance, health)
            if generation.stopping or self._closed:
                return
            backoff.exited()
            health.last_error = reason
            while True:
                name = instance.spec.name
                self.restarts[name] = self.restarts.get(name, 0) + 1
                health.restarts += 1
                looping = backoff.crash_loop
                health.state = HealthState.CRASH_LOOP if looping else HealthState.RESTARTING
                health.pid = None
                self.note(
                    f"instance {name} {reason}; restarting in {backoff.pause:g} s"
                    + (f" (crash loop: {backoff.failures} failures in a row)" if looping else "")
                )
                await backoff.wait()
                if generation.stopping or self._closed:
                    return
                spec = self._instance_spec(generation, index)
                instance = self.runtime.create_instance(spec, self._sink(spec.name))
                generation.instances[index] = instance
                try:
                    async with self._start_gate:
                        await instance.start(generation.spec.start_budget_seconds)
                except InstanceFailed as exc:
                    backoff.restart_failed()
                    reason = f"failed to restart: {exc}"
                    health.last_error = reason
                    continue
                break
            if generation.stopping or self._closed:
                await instance.stop()
                return
            health.state, health.pid = HealthState.READY, instance.pid
            if instance.pid is not None:
                self._on_pids(instance.pid, True)
            self.pool.slots = [*self.pool.slots, Slot(instance, instance.url)]
            self.note(f"instance {instance.spec.name} is back")

    async def _run_until_exit(
        self, generation: _Generation, instance: Instance, health: InstanceHealth
    ) -> str:
        """Probe a ready instance until it exits, or stop it once its liveness probe has
        failed; say which happened."""

        def readiness(ready: bool, error: str | None) -> None:
            name = instance.spec.name
            in_pool = any(slot.instance is instance for slot in self.pool.slots)
            if not ready:
                self.remove_slot(instance)
                health.state = HealthState.NOT_READY
                health.last_error = f"readiness probe failed: {error}"
                self.note(f"instance {name} failed its readiness probe ({error}): out of the pool")
            elif generation is self._current and not generation.stopping and not in_pool:
                self.pool.slots = [*self.pool.slots, Slot(instance, instance.url)]
                health.state = HealthState.READY
                self.note(f"instance {name} passed its readiness probe: back in the pool")

        spec = generation.spec
        prober = asyncio.create_task(
            probe(
                instance.url,
                spec.liveness_probe,
                spec.readiness_probe,
                started=time.monotonic(),
                on_ready=readiness,
            )
        )
        exited = asyncio.ensure_future(instance.wait())
        try:
            await asyncio.wait({prober, exited}, return_when=asyncio.FIRST_COMPLETED)
            if not exited.done() and prober.exception() is not None:
                # A fault in probing must not leave the instance unwatched: it still restarts
                # when it exits.
                self.note(f"probing {instance.spec.name} stopped: {prober.exception()!r}")
                await exited
            if exited.done():
                code = exited.result()
                reason = self.recycled.pop(instance, None) or (
                    f"exited with {instance.exit_reason(code)}"
                )
            else:
                reason = f"failed its liveness probe ({prober.result()})"
                self.remove_slot(instance)
                self.note(f"instance {instance.spec.name} {reason}: stopping it")
                await instance.stop()
                await exited
        finally:
            for task in (prober, exited):
                task.cancel()
            await asyncio.gather(prober, exited, return_exceptions=True)
            if exited.done() and not exited.cancelled():
                self.remove_slot(instance)
                if instance.pid is not None:
                    self._on_pids(instance.pid, False)
        return reason

    def _on_request_timeout(self, slot: Slot) -> None:
        task = asyncio.create_task(watch_stuck(self, slot))
        self._stuck_watchers.add(task)
        task.add_done_callback(self._stuck_watchers.discard)

    def health_of(self, instance: Instance) -> InstanceHealth | None:
        for generation in self._live:
            for inst, health in zip(generation.instances, generation.health, strict=False):
                if inst is instance:
                    return health
        return None

    def remove_slot(self, instance: Instance) -> None:
        self.pool.slots = [slot for slot in self.pool.slots if slot.instance is not instance]

    async def _drain(self, slots: list[Slot]) -> None:
        """Wait until the requests already sent to `slots` have finished, within the request
        timeout (after which the router has given up on them anyway)."""
        budget = self.spec.request_settings.request_timeout_ms / 1000 + 1
        deadline = time.monotonic() + budget
        while any(slot.inflight for slot in slots) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    async def _stop_instances(self, instances: list[Instance]) -> None:
        await asyncio.gather(*(inst.stop() for inst in instances), return_exceptions=True)
        for inst in instances:
            if inst.pid is not None:
                self._on_pids(inst.pid, False)
            shutil.rmtree(inst.spec.work_dir, ignore_errors=True)

    async def _stop_generation(self, generation: _Generation, *, drain: bool = False) -> None:
        generation.stopping = True
        slots = [s for s in self.pool.slots if s.instance in generation.instances]
        self.pool.slots = [s for s in self.pool.slots if s not in slots]
        if drain:
            # Requests already sent to the old instances finish before they stop.
            await self._drain(slots)
        for watcher in generation.watchers:
            watcher.cancel()
        await asyncio.gather(*generation.watchers, return_exceptions=True)
        await self._stop_instances(generation.instances)
        self._live = [g for g in self._live if g is not generation]

    def _autoscale(self) -> None:
        """Run the autoscaler while the spec asks for target utilization scaling."""
        wanted = self.spec.scale_settings.type == "target_utilization" and not self._closed
        running = self._autoscaler is not None and not self._autoscaler.done()
        if wanted and not running:
            self._autoscaler = asyncio.create_task(autoscale(self))
        elif not wanted and running and self._autoscaler is not None:
            self._autoscaler.cancel()


def _same_but_scale(old: OnlineDeployment, new: OnlineDeployment) -> bool:
    """True when two specs differ in instance count or scale settings and nothing else. (The
    same spec again is a restart: the code or the model files may have changed.)"""
    ignore = {"instance_count", "scale_settings"}
    if old.model_dump() == new.model_dump():
        return False
    return old.model_dump(exclude=ignore) == new.model_dump(exclude=ignore)


def _first_error(exc: BaseException) -> Exception | None:
    """The first ordinary error inside a (possibly nested) exception group, if any."""
    if isinstance(exc, BaseExceptionGroup):
        for inner in exc.exceptions:
            found = _first_error(inner)
            if found is not None:
                return found
        return None
    return exc if isinstance(exc, Exception) else None
