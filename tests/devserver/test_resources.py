"""The resource sampler on real processes: CPU, memory, restarts and the usage they add up to."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from support.waiting import wait_until

from epdev.devserver.cost import UsageLedger
from epdev.devserver.resources import ResourceSampler, Target
from epdev.runtimes import InstanceSpec, InstanceState

# Burns a little more than `seconds` of CPU, then idles until killed. The margin is there because
# /proc counts user and system time in whole clock ticks, each rounded down: without it a reader
# could see 0.39 s forever from a burner that stopped at 0.4 s of process_time().
BURN = (
    "import sys, time\n"
    "end = time.process_time() + float(sys.argv[1]) + 0.05\n"
    "while time.process_time() < end: pass\n"
    "time.sleep(60)\n"
)


@dataclass
class Worker:
    """A real process standing where an instance's worker would."""

    spec: InstanceSpec
    proc: subprocess.Popen[bytes]
    state: InstanceState = InstanceState.READY

    @property
    def pid(self) -> int:
        return self.proc.pid


@dataclass
class Deployment:
    instances: list[Worker] = field(default_factory=list)
    restarts: dict[str, int] = field(default_factory=dict)

    def target(self) -> Target:
        return Target("ep", "blue", "ep/blue@1.0", list(self.instances), dict(self.restarts))


Spawn = Callable[[int, float], Worker]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def spawn(tmp_path: Path) -> Iterator[Spawn]:
    started: list[subprocess.Popen[bytes]] = []

    def make(index: int, burn: float) -> Worker:
        proc = subprocess.Popen([sys.executable, "-c", BURN, str(burn)])
        started.append(proc)
        spec = InstanceSpec("ep", "blue", index, tmp_path, "score.py", None)
        return Worker(spec, proc)

    yield make
    for proc in started:
        proc.kill()
        proc.wait()


def wait_cpu(pid: int, seconds: float) -> None:
    import psutil

    # The burner stops on CPU time, not wall time: on a loaded machine it gets there later.
    def used() -> bool:
        times = psutil.Process(pid).cpu_times()
        return times.user + times.system >= seconds

    wait_until(used, 60, interval=0.02, what=f"pid {pid} did not use {seconds} s of CPU")


def test_cpu_memory_and_usage_of_running_instances(spawn: Spawn, tmp_path: Path) -> None:
    deployment = Deployment()
    worker = spawn(0, 0.4)
    deployment.instances.append(worker)
    ledger = UsageLedger(tmp_path / "usage.json")
    monotonic = Clock()
    sampler = ResourceSampler(lambda: [deployment.target()], ledger, monotonic=monotonic)

    asyncio.run(sampler.sample())
    first = sampler.of("ep", "blue")[0].instances["blue-0"]
    assert first.memory_bytes > 0  # maybe caught between fork and exec: small
    assert first.cpu_percent is None  # nothing to compare with yet

    wait_cpu(worker.pid, 0.4)
    monotonic.now += 2.0
    asyncio.run(sampler.sample())
    stats = sampler.of("ep", "blue")[0].instances["blue-0"]
    assert stats.cpu_seconds >= 0.4
    assert stats.memory_bytes > 1024 * 1024
    assert stats.cpu_percent is not None and stats.cpu_percent > 0
    usage = ledger.usage("ep/blue@1.0")
    # One instance for the 2 s between the samples; its CPU so far; its memory for 2 s.
    assert usage.instance_seconds == pytest.approx(2.0)
    assert usage.core_seconds == pytest.approx(stats.cpu_seconds)
    assert usage.gib_seconds == pytest.approx(stats.memory_bytes / 1024**3 * 2.0)


def test_cpu_counter_keeps_growing_across_a_restart(spawn: Spawn, tmp_path: Path) -> None:
    deployment = Deployment()
    old = spawn(0, 0.2)
    deployment.instances.append(old)
    sampler = ResourceSampler(
        lambda: [deployment.target()], UsageLedger(tmp_path / "u.json"), monotonic=Clock()
    )
    wait_cpu(old.pid, 0.2)
    asyncio.run(sampler.sample())
    before = sampler.of("ep")[0].instances["blue-0"].cpu_seconds
    assert before >= 0.2

    old.proc.kill()
    old.proc.wait()
    old.state = InstanceState.FAILED
    new = spawn(0, 0.1)
    deployment.instances[0] = new
    deployment.restarts["blue-0"] = 1
    wait_cpu(new.pid, 0.1)
    asyncio.run(sampler.sample())
    stats = sampler.of("ep")[0].instances["blue-0"]
    assert stats.restarts == 1
    assert list(stats.pids) == [new.pid]
    assert stats.cpu_seconds >= before + 0.1


def test_deleted_deployments_are_forgotten(spawn: Spawn, tmp_path: Path) -> None:
    deployment = Deployment([spawn(0, 0.0)])
    targets = [deployment.target()]
    ledger = UsageLedger(tmp_path / "u.json")
    ledger.usage("ep/old@0.5").instance_seconds = 10
    sampler = ResourceSampler(lambda: targets, ledger)
    asyncio.run(sampler.sample())
    assert sampler.of("ep") and set(ledger.entries) == {"ep/blue@1.0"}
    targets.clear()
    asyncio.run(sampler.sample())
    assert sampler.of("ep") == [] and ledger.entries == {}


@dataclass
class Container:
    """An instance that the engine measures (as the Docker runtime's do): no pid, usage()."""

    spec: InstanceSpec
    cpu: float
    memory: int
    container_id: str = "c0ffee"
    state: InstanceState = InstanceState.READY
    pid: None = None

    async def usage(self) -> tuple[float, int] | None:
        return self.cpu, self.memory


def test_instances_the_engine_measures(tmp_path: Path) -> None:
    spec = InstanceSpec("ep", "blue", 0, tmp_path, "score.py", None)
    container = Container(spec, cpu=1.5, memory=300 * 1024 * 1024)
    deployment = Deployment()
    deployment.instances.append(container)  # type: ignore[arg-type]
    ledger = UsageLedger(tmp_path / "u.json")
    monotonic = Clock()
    sampler = ResourceSampler(lambda: [deployment.target()], ledger, monotonic=monotonic)
    asyncio.run(sampler.sample())
    container.cpu = 2.0
    monotonic.now += 1.0
    asyncio.run(sampler.sample())
    stats = sampler.of("ep")[0].instances["blue-0"]
    assert stats.cpu_seconds == 2.0 and stats.memory_bytes == 300 * 1024 * 1024
    assert stats.cpu_percent == pytest.approx(50.0)
    assert stats.view()["pids"] == []
    assert ledger.usage("ep/blue@1.0").core_seconds == pytest.approx(2.0)
