"""CPU and memory of every instance, sampled about once a second, and the usage they add up to.

Each sample reads the instances' processes with psutil (in a worker thread, so the event loop
never waits on /proc), keeps per-second figures of the last hour per deployment, and adds the
interval's instance-seconds, core-seconds and GiB-seconds to the usage ledger that cost
estimates read. An instance that restarts keeps its name, and its CPU counter keeps growing
across the restart, as a Prometheus counter must.

Only the worker process itself is measured, not processes a scoring script starts. Instances
that have no process here (containers) are measured by their runtime, through the instance's
`usage()` (CPU seconds and memory as the engine counts them).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import psutil

from epdev.devserver.cost import Usage, UsageLedger
from epdev.devserver.metrics import HISTORY_SECONDS
from epdev.runtimes import Instance, InstanceState

GIB = 1024**3
_LIVE = (InstanceState.STARTING, InstanceState.READY)

Key = int | str
"""What one reading measures: a process id, or "engine:<id>" for an instance the engine runs."""
Reading = tuple[float, int]
"""CPU seconds used so far, and memory in use in bytes."""


@dataclass(frozen=True)
class Target:
    """One deployment as the sampler sees it."""

    endpoint: str
    deployment: str
    ledger_key: str
    instances: Sequence[Instance]
    restarts: dict[str, int]


@dataclass
class InstanceStats:
    name: str
    state: str = InstanceState.STARTING.value
    pids: dict[Key, float] = field(default_factory=dict)
    """CPU seconds last read from each live process (or container) of this instance."""
    finished_cpu: float = 0.0
    """CPU seconds of its processes that have exited."""
    cpu_percent: float | None = None
    memory_bytes: int = 0
    restarts: int = 0

    @property
    def cpu_seconds(self) -> float:
        return self.finished_cpu + sum(self.pids.values())

    def view(self) -> dict[str, object]:
        return {
            "name": self.name,
            "state": self.state,
            "pids": sorted(k for k in self.pids if isinstance(k, int)),
            "cpu_percent": None if self.cpu_percent is None else round(self.cpu_percent, 1),
            "memory_bytes": self.memory_bytes,
            "cpu_seconds": round(self.cpu_seconds, 3),
            "restarts": self.restarts,
        }


class DeploymentResources:
    """The instances of one deployment and their summed figures over the last hour."""

    def __init__(self, endpoint: str, deployment: str) -> None:
        self.endpoint = endpoint
        self.deployment = deployment
        self.instances: dict[str, InstanceStats] = {}
        self.billed_instances = 0
        self._stamps = [-1] * HISTORY_SECONDS
        self._cpu = [0.0] * HISTORY_SECONDS
        self._memory = [0] * HISTORY_SECONDS

    def note(self, stamp: int, cpu_percent: float, memory_bytes: int) -> None:
        index = stamp % HISTORY_SECONDS
        self._stamps[index] = stamp
        self._cpu[index] = cpu_percent
        self._memory[index] = memory_bytes

    @property
    def cpu_percent(self) -> float | None:
        values = [s.cpu_percent for s in self.instances.values() if s.cpu_percent is not None]
        return round(sum(values), 1) if values else None

    @property
    def memory_bytes(self) -> int:
        return sum(s.memory_bytes for s in self.instances.values())

    def steps(
        self, start: int, end: int, step: int
    ) -> tuple[list[float | None], list[float | None]]:
        """Mean CPU percent and mean memory bytes per step (None for steps with no sample)."""
        count = (end - start) // step + 1
        cpu: list[list[float]] = [[] for _ in range(count)]
        memory: list[list[int]] = [[] for _ in range(count)]
        for stamp in range(max(start, end - HISTORY_SECONDS + 1), end + 1):
            index = stamp % HISTORY_SECONDS
            if self._stamps[index] == stamp:
                slot = (stamp - start) // step
                cpu[slot].append(self._cpu[index])
                memory[slot].append(self._memory[index])
        return [_mean(c) for c in cpu], [_mean(m) for m in memory]


class ResourceSampler:
    def __init__(
        self,
        targets: Callable[[], list[Target]],
        ledger: UsageLedger,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._targets = targets
        self.ledger = ledger
        self.deployments: dict[tuple[str, str], DeploymentResources] = {}
        self._clock = clock
        self._monotonic = monotonic
        self._last: float | None = None
        self._procs: dict[int, psutil.Process] = {}

    def of(self, endpoint: str, deployment: str | None = None) -> list[DeploymentResources]:
        return [
            r
            for (e, d), r in self.deployments.items()
            if e == endpoint and (deployment is None or d == deployment)
        ]

    async def sample(self) -> None:
        """Read every instance once and add the time since the last sample to the ledger."""
        targets = self._targets()
        live = [inst for target in targets for inst in target.instances if inst.state in _LIVE]
        pids = {inst.pid for inst in live if inst.pid is not None}
        readings = await asyncio.to_thread(self._read, pids)
        engine = [found for inst in live if (found := _engine(inst)) is not None]
        if engine:
            measured = await asyncio.gather(*(m() for _, m in engine), return_exceptions=True)
            for (ident, _), value in zip(engine, measured, strict=True):
                if isinstance(value, tuple):
                    readings[ident] = value
        now = self._monotonic()
        elapsed = 0.0 if self._last is None else max(now - self._last, 0.0)
        self._last = now
        stamp = int(self._clock())
        seen: set[tuple[str, str]] = set()
        for target in targets:
            key = (target.endpoint, target.deployment)
            seen.add(key)
            resources = self.deployments.get(key)
            if resources is None:
                resources = self.deployments[key] = DeploymentResources(*key)
            delta = self._apply(resources, target, readings, elapsed)
            self.ledger.usage(target.ledger_key).add(delta)
            cpu = resources.cpu_percent
            resources.note(stamp, cpu or 0.0, resources.memory_bytes)
        for gone in set(self.deployments) - seen:
            del self.deployments[gone]
        self.ledger.keep_only({t.ledger_key for t in targets})

    def _apply(
        self,
        resources: DeploymentResources,
        target: Target,
        readings: dict[Key, Reading],
        elapsed: float,
    ) -> Usage:
        by_name: dict[str, list[Instance]] = {}
        for inst in target.instances:
            by_name.setdefault(inst.spec.name, []).append(inst)
        core_seconds = 0.0
        for name in set(resources.instances) - set(by_name):
            del resources.instances[name]
        for name, instances in by_name.items():
            stats = resources.instances.get(name)
            if stats is None:
                stats = resources.instances[name] = InstanceStats(name)
            stats.restarts = target.restarts.get(name, 0)
            # Of two generations sharing a name during a rollout, the newer one speaks.
            stats.state = instances[-1].state.value
            live = {
                key: readings[key]
                for inst in instances
                if inst.state in _LIVE and (key := _key(inst)) is not None and key in readings
            }
            before = stats.cpu_seconds
            for pid in set(stats.pids) - set(live):
                stats.finished_cpu += stats.pids.pop(pid)
            # A process seen for the first time brings all its CPU so far (model loading and
            # all): that counts as usage, but not towards the percentage of this interval.
            interval_cpu, measured = 0.0, False
            for pid, (cpu, _) in live.items():
                previous = stats.pids.get(pid)
                if previous is not None:
                    interval_cpu += max(cpu - previous, 0.0)
                    measured = True
                stats.pids[pid] = max(cpu, previous or 0.0)
            core_seconds += max(stats.cpu_seconds - before, 0.0)
            stats.memory_bytes = sum(rss for _, rss in live.values())
            stats.cpu_percent = interval_cpu / elapsed * 100 if measured and elapsed > 0 else None
        resources.billed_instances = len(target.instances)
        return Usage(
            instance_seconds=len(target.instances) * elapsed,
            core_seconds=core_seconds,
            gib_seconds=resources.memory_bytes / GIB * elapsed,
        )

    def _read(self, pids: set[int]) -> dict[Key, Reading]:
        """CPU seconds (user + system) and RSS of each live process; runs in a worker thread."""
        found: dict[Key, Reading] = {}
        for pid in pids:
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = self._procs[pid] = psutil.Process(pid)
                elif not proc.is_running():  # the pid now names another process
                    continue
                with proc.oneshot():
                    if proc.status() == psutil.STATUS_ZOMBIE:
                        continue
                    times = proc.cpu_times()
                    rss = proc.memory_info().rss
            except psutil.Error:
                continue
            found[pid] = (times.user + times.system, rss)
        for gone in set(self._procs) - pids:
            del self._procs[gone]
        return found


def _key(instance: Instance) -> Key | None:
    if instance.pid is not None:
        return instance.pid
    found = _engine(instance)
    return None if found is None else found[0]


def _engine(instance: Instance) -> tuple[str, Callable[[], Awaitable[Reading | None]]] | None:
    """The key and `usage()` of an instance whose runtime measures it, if it is one."""
    if instance.pid is not None:
        return None
    usage = getattr(instance, "usage", None)
    ident = getattr(instance, "container_id", None)
    if not callable(usage) or not ident:
        return None
    return f"engine:{ident}", usage


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None
