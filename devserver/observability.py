"""What the devserver knows about its endpoints' health and cost, put together for its readers.

It owns the queue of calls the router fills and the request metrics and access logs it drains
into, the resource sampler and usage ledger, and the rate card, and runs the chores: drain a few
times a second; sample, flush and save about once a second. The views (`show`, the metrics API,
Prometheus) read from here, always on the event loop's thread, draining the queue first.

`EPDEV_METRICS=off` turns all of it off; it exists so that bench/router_overhead.py can measure
what recording costs, and is not meant for anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import math
import os
from typing import TYPE_CHECKING, Any

from epdev.devserver.accesslog import AccessLogs
from epdev.devserver.calls import CallRecorder
from epdev.devserver.cost import RatesFile, Usage, UsageLedger, estimate, total
from epdev.devserver.errors import BadRequest
from epdev.devserver.home import Home
from epdev.devserver.metrics import HISTORY_SECONDS, RequestMetrics, Window
from epdev.devserver.provisioning import ProvisioningState
from epdev.devserver.resources import DeploymentResources, ResourceSampler, Target
from epdev.devserver.supervisor import DeploymentRunner

if TYPE_CHECKING:
    from epdev.devserver.deployments import DeploymentEntry
    from epdev.devserver.endpoints import Control
    from epdev.devserver.prometheus import EpdevCollector

log = logging.getLogger("epdev.devserver")

SWITCH_ENV = "EPDEV_METRICS"
DRAIN_SECONDS = 0.25
SAMPLE_EVERY = 4
"""Drains between two samples of the instances (and flushes of the access logs)."""
SAVE_EVERY = 30
"""Samples between two saves of the usage ledger."""
DRAIN_SLICE = 32
"""Calls drained between two turns of the event loop: a quarter second's calls at 1,000 a
second took the loop 5 ms in one piece (20 us a call), and every call in flight waited that
long; in slices of this size no call waits more than about 1 ms for the drain."""
CURRENT_WINDOW = 60
"""`show` reports the figures of the last minute."""


def enabled_by_environment() -> bool:
    return os.environ.get(SWITCH_ENV, "on").strip().lower() not in ("off", "0", "false", "no")


class Observability:
    def __init__(self, home: Home, control: Control, *, enabled: bool | None = None) -> None:
        self.control = control
        self.enabled = enabled_by_environment() if enabled is None else enabled
        self.requests: RequestMetrics | None = RequestMetrics() if self.enabled else None
        self.access: AccessLogs | None = AccessLogs(home.logs_dir) if self.enabled else None
        self.recorder: CallRecorder | None = (
            None if self.requests is None else CallRecorder(self.requests, self.access)
        )
        self.ledger = UsageLedger(home.root / "usage.json")
        self.rates = RatesFile(home.root / "rates.yaml")
        self.resources = ResourceSampler(self._targets, self.ledger)
        self._task: asyncio.Task[None] | None = None

    # Life cycle

    def start(self) -> None:
        if not self.enabled or self._task is not None:
            return
        self.ledger.load()
        self._task = asyncio.create_task(self._chores())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.ledger.save()
        self.drain()
        if self.access is not None:
            self.access.close()

    def drain(self) -> None:
        """Bring the metrics and access logs up to the last answered call."""
        if self.recorder is not None:
            self.recorder.drain()

    async def _chores(self) -> None:
        ticks = 0
        while True:
            try:
                recorder = self.recorder
                while recorder is not None and recorder.drain(DRAIN_SLICE):
                    await asyncio.sleep(0)  # let the calls waiting on the loop go first
                if ticks % SAMPLE_EVERY == 0:
                    await self.resources.sample()
                    if self.access is not None:
                        self.access.flush()
                if ticks % (SAMPLE_EVERY * SAVE_EVERY) == 0:
                    self.ledger.save()
            except Exception:
                log.exception("recording metrics failed")
            ticks += 1
            await asyncio.sleep(DRAIN_SECONDS)

    def forget(self, endpoint: str, deployment: str | None = None) -> None:
        """Drop what is kept about a deleted endpoint or deployment."""
        self.drain()
        if self.requests is not None:
            self.requests.forget(endpoint, deployment)
        if self.access is not None and deployment is None:
            self.access.close(endpoint)

    def in_flight(self) -> list[tuple[str, str, int]]:
        return [
            (name, dname, sum(slot.inflight for slot in dentry.runner.pool.slots))
            for name, entry in self.control.endpoints.items()
            for dname, dentry in entry.deployments.items()
        ]

    def collector(self) -> EpdevCollector:
        # Here: prometheus-client loads on the first scrape of /metrics, not with every devserver.
        from epdev.devserver.prometheus import EpdevCollector

        return EpdevCollector(self.requests, self.resources, self.in_flight)

    def _targets(self) -> list[Target]:
        return [
            Target(
                endpoint=name,
                deployment=dname,
                ledger_key=ledger_key(dentry),
                instances=dentry.runner.instances(),
                restarts=dict(dentry.runner.restarts),
            )
            for name, entry in self.control.endpoints.items()
            for dname, dentry in entry.deployments.items()
        ]

    # Figures for `show`

    def deployment_figures(self, endpoint: str, name: str) -> dict[str, Any]:
        dentry = self.control.deployment(endpoint, name)
        return {
            "metrics": self._current(endpoint, name, [dentry.runner]),
            "cost": self._cost(dentry),
        }

    def endpoint_figures(self, endpoint: str) -> dict[str, Any]:
        entry = self.control.endpoint(endpoint)
        runners = [d.runner for d in entry.deployments.values()]
        costs = [self._cost(d) for d in entry.deployments.values()]
        return {
            "metrics": self._current(endpoint, None, runners),
            "cost": total(costs, self.rates.card().currency),
        }

    def _current(
        self, endpoint: str, deployment: str | None, runners: list[DeploymentRunner]
    ) -> dict[str, Any] | None:
        if self.requests is None:
            return None
        self.drain()
        now = self.requests.now()
        window = self.requests.window(
            self.requests.of(endpoint, deployment), now - CURRENT_WINDOW + 1, now
        )
        return {
            "window_seconds": CURRENT_WINDOW,
            **window.summary(),
            **self._live(runners, self.resources.of(endpoint, deployment), deployment is not None),
        }

    def _live(
        self,
        runners: list[DeploymentRunner],
        resources: list[DeploymentResources],
        per_instance: bool,
    ) -> dict[str, Any]:
        cpu = [r.cpu_percent for r in resources if r.cpu_percent is not None]
        figures: dict[str, Any] = {
            "in_flight": sum(slot.inflight for r in runners for slot in r.pool.slots),
            "cpu_percent": round(sum(cpu), 1) if cpu else None,
            "memory_bytes": sum(r.memory_bytes for r in resources),
            "restarts": sum(sum(r.restarts.values()) for r in runners),
        }
        if per_instance:
            figures["instances"] = [
                stats.view() for r in resources for stats in r.instances.values()
            ]
        return figures

    def _cost(self, dentry: DeploymentEntry) -> dict[str, Any]:
        runner = dentry.runner
        billed = bool(runner.instances()) or runner.state in (
            ProvisioningState.CREATING,
            ProvisioningState.UPDATING,
        )
        usage: Usage | None = self.ledger.entries.get(ledger_key(dentry)) if self.enabled else None
        if self.enabled and usage is None:
            usage = Usage()
        view = estimate(
            self.rates.card(),
            runner.spec.instance_type,
            runner.spec.instance_count if billed else 0,
            usage,
            self.rates.path,
        )
        if self.rates.error:
            view["rates_error"] = self.rates.error
        return view

    # The metrics API

    def report(self, endpoint: str, window: int, step: int | None) -> dict[str, Any]:
        """Series for the dashboard: per step, RPS, error rate, p50/p99, CPU and memory."""
        entry = self.control.endpoint(endpoint)
        if not 1 <= window <= HISTORY_SECONDS:
            raise BadRequest(f"window must be between 1 s and {HISTORY_SECONDS // 60} min")
        step = step or max(1, math.ceil(window / 60))
        if not 1 <= step <= window:
            raise BadRequest("step must be at least 1 s and at most the window")
        if self.requests is None:
            raise BadRequest(f"metrics are off in this devserver ({SWITCH_ENV}=off)")
        self.drain()
        points = math.ceil(window / step)
        end = self.requests.now()
        start = end - points * step + 1
        runners = {name: d.runner for name, d in entry.deployments.items()}
        return {
            "endpoint": endpoint,
            "window_seconds": points * step,
            "step_seconds": step,
            "start": _iso(start),
            "end": _iso(end + 1),
            "timestamps": [start + i * step for i in range(points)],
            "total": self._block(endpoint, None, list(runners.values()), start, end, step),
            "deployments": {
                name: self._block(endpoint, name, [runner], start, end, step)
                for name, runner in runners.items()
            },
        }

    def _block(
        self,
        endpoint: str,
        deployment: str | None,
        runners: list[DeploymentRunner],
        start: int,
        end: int,
        step: int,
    ) -> dict[str, Any]:
        assert self.requests is not None
        series = self.requests.of(endpoint, deployment)
        steps = self.requests.steps(series, start, end, step)
        resources = self.resources.of(endpoint, deployment)
        cpu, memory = _sum_steps([r.steps(start, end, step) for r in resources], len(steps))
        summary = self.requests.window(series, start, end).summary()
        return {
            "summary": {**summary, **self._live(runners, resources, deployment is not None)},
            "series": {
                "rps": [round(w.rps, 3) for w in steps],
                "error_rate": [_round(w.error_rate, 4) for w in steps],
                "p50_ms": [_ms(w, 0.5) for w in steps],
                "p99_ms": [_ms(w, 0.99) for w in steps],
                "cpu_percent": [_round(v, 1) for v in cpu],
                "memory_bytes": [None if v is None else round(v) for v in memory],
            },
        }


def ledger_key(dentry: DeploymentEntry) -> str:
    # The creation time tells a re-created deployment from an earlier one of the same name.
    return f"{dentry.row.endpoint}/{dentry.row.name}@{dentry.row.created_at!r}"


def _sum_steps(
    per_deployment: list[tuple[list[float | None], list[float | None]]], count: int
) -> tuple[list[float | None], list[float | None]]:
    cpu: list[float | None] = [None] * count
    memory: list[float | None] = [None] * count
    for dcpu, dmemory in per_deployment:
        for i in range(count):
            if dcpu[i] is not None:
                cpu[i] = (cpu[i] or 0.0) + (dcpu[i] or 0.0)
            if dmemory[i] is not None:
                memory[i] = (memory[i] or 0.0) + (dmemory[i] or 0.0)
    return cpu, memory


def _ms(window: Window, q: float) -> float | None:
    value = window.quantile(q)
    return None if value is None else round(value * 1000, 3)


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)


def _iso(stamp: int) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat().replace("+00:00", "Z")
