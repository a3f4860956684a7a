"""Fixed data behind the dashboard's Source surface, for snapshots and fast Pilot tests.

Changes that a test makes (traffic, deletes) are kept, so a flow can be checked end to end
without a devserver; the flows are also tested against a real one in test_live.py.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import math
from collections.abc import AsyncIterator
from typing import Any

import httpx

from epdev.devserver import views
from epdev.devserver.client import ClientError, NotRunning
from epdev.tui.source import Source, Spec

CLOCK = dt.datetime(2024, 5, 1, 12, 0, 0, tzinfo=dt.UTC)
BASE = "https://127.0.0.1:8443"
STAMP = CLOCK.isoformat(timespec="seconds")
HOURLY = 0.293


def fixed_clock() -> dt.datetime:
    return CLOCK


def _metrics(
    rps: float, p50: float | None, p99: float | None, errors: float | None, cpu: float | None
) -> views.CurrentFigures:
    return views.CurrentFigures(
        window_seconds=60,
        requests=int(rps * 60),
        rps=rps,
        status_classes={"2xx": int(rps * 60)},
        error_rate=errors,
        p50_ms=p50,
        p90_ms=None,
        p99_ms=p99,
        mean_ms=None,
        in_flight=0,
        cpu_percent=cpu,
        memory_bytes=180 * 1024 * 1024,
        restarts=0,
    )


def _endpoint_cost(per_hour: float) -> views.EndpointCost:
    return views.EndpointCost(
        currency="USD",
        estimated_per_hour=per_hour,
        estimated_to_date=None,
        instance_hours=None,
        core_seconds=None,
        gib_hours=None,
    )


def _endpoint(
    name: str, traffic: dict[str, int], deployments: list[str], **metrics: float
) -> views.EndpointView:
    return views.EndpointView(
        name=name,
        description=f"{name} endpoint",
        tags={},
        properties={},
        auth_mode="key",
        kind="Managed",
        local=False,
        provisioning_state="Succeeded",
        scoring_uri=f"{BASE}/endpoints/{name}/score",
        openapi_uri=f"{BASE}/endpoints/{name}/swagger.json",
        traffic=traffic,
        mirror_traffic={},
        deployments=deployments,
        source=None,
        created_at=STAMP,
        updated_at=STAMP,
        cloud_only=[],
        metrics=_metrics(**metrics) if metrics else None,
        cost=_endpoint_cost(round(HOURLY * len(deployments), 3)),
    )


def _deployment(
    endpoint: str, name: str, state: str, instances: int, **metrics: float
) -> views.DeploymentView:
    ready = state == "Succeeded"
    return views.DeploymentView(
        name=name,
        endpoint_name=endpoint,
        tags={},
        properties={},
        type="managed",
        environment_variables={},
        instance_count=instances,
        request_settings={},
        liveness_probe={},
        readiness_probe={},
        scale_settings={"type": "default"},
        instance_type="Standard_DS3_v2",
        provisioning_state=state,
        error=None,
        runtime="process",
        watch=False,
        ready_instances=instances if ready else 0,
        health=views.DeploymentHealth(
            state="Healthy" if ready else "Degraded",
            last_error=None,
            instances=[
                views.InstanceHealth(
                    name=f"{name}-{i}",
                    state="Ready" if ready else "Starting",
                    restarts=0,
                    last_error=None,
                    pid=4100 + i,
                )
                for i in range(instances)
            ],
        ),
        source=None,
        created_at=STAMP,
        updated_at=STAMP,
        cloud_only=[],
        metrics=_metrics(**metrics) if metrics else None,
        cost=views.DeploymentCost(
            instance_type="Standard_DS3_v2",
            instance_count=instances,
            currency="USD",
            rate_per_instance_hour=HOURLY,
            estimated_per_hour=HOURLY,
            estimated_to_date=None,
            instance_hours=None,
            core_seconds=None,
            gib_hours=None,
            rates_source="fixed",
        ),
    )


def _job(
    name: str,
    endpoint: str,
    deployment: str,
    status: str,
    items: tuple[int, int, int],
    started_ago: float | None,
    elapsed: float,
) -> views.JobView:
    """A job as `GET /jobs` shows it; `items` is (done, failed, total)."""
    done, failed, total = items
    started = None if started_ago is None else CLOCK - dt.timedelta(seconds=started_ago)
    created = CLOCK - dt.timedelta(seconds=(started_ago or 0) + 2)
    return views.JobView(
        name=name,
        type="pipeline",
        status=status,
        endpoint_name=endpoint,
        deployment_name=deployment,
        error="error_threshold exceeded" if status == "Failed" else None,
        progress=views.JobProgress(
            items_total=total,
            items_done=done,
            items_failed=failed,
            rows_written=done,
            minibatches_total=0,
            minibatches_done=0,
            elapsed_seconds=elapsed,
            items_per_second=0,
            eta_seconds=None,
        ),
        inputs={},
        outputs=views.JobOutputs(
            path=f"/nonexistent/{name}/outputs",
            file=f"/nonexistent/{name}/outputs/predictions.csv",
        ),
        settings={},
        engine="local",
        job_folder=None,
        creation_context=views.JobTimes(
            created_at=created.isoformat(timespec="seconds"),
            started_at=started and started.isoformat(timespec="seconds"),
            ended_at=None,
        ),
    )


def _batch_endpoint(name: str, default: str) -> views.BatchEndpointView:
    return views.BatchEndpointView(
        name=name,
        description=None,
        tags={},
        properties={},
        auth_mode="aad_token",
        defaults=views.BatchDefaults(deployment_name=default),
        deployments=[default],
        provisioning_state="Succeeded",
        scoring_uri=f"{BASE}/api/v1/batch-endpoints/{name}/jobs",
        source=None,
        created_at=STAMP,
        updated_at=STAMP,
        cloud_only=[],
    )


def _page(
    found: list[tuple[int, str]], next_offset: int | None, lines: list[str]
) -> views.LogSearchPage:
    return views.LogSearchPage(
        matches=[views.LogMatch(offset=i, text=line) for i, line in found],
        next_offset=next_offset,
        total_bytes=sum(len(line) + 1 for line in lines),
    )


def _search(
    lines: list[str], text: str, offset: int, limit: int, instance: str | None
) -> views.LogSearchPage:
    found: list[tuple[int, str]] = []
    for index in range(offset, len(lines)):
        line = lines[index]
        if text.lower() in line.lower() and (instance is None or f" {instance} " in line):
            found.append((index, line))
            if len(found) == limit:
                return _page(found, index + 1, lines)
    return _page(found, None, lines)


class FixedSource:
    """The Source surface over fixed views; `calls` records what a screen asked for."""

    def __init__(self) -> None:
        self.endpoints: dict[str, views.EndpointView] = {
            "fraud-scorer": _endpoint(
                "fraud-scorer",
                {"blue": 90, "green": 10},
                ["blue", "green"],
                rps=12.5,
                p50=8.2,
                p99=41.0,
                errors=0.004,
                cpu=35.0,
            ),
            "churn": _endpoint(
                "churn",
                {"blue": 100},
                ["blue"],
                rps=0.4,
                p50=120.0,
                p99=480.0,
                errors=0.0,
                cpu=3.0,
            ),
            "sandbox": _endpoint("sandbox", {}, []),
        }
        self.deployments: dict[str, dict[str, views.DeploymentView]] = {
            "fraud-scorer": {
                "blue": _deployment(
                    "fraud-scorer",
                    "blue",
                    "Succeeded",
                    2,
                    rps=11.2,
                    p50=8.0,
                    p99=40.0,
                    errors=0.0,
                    cpu=30.0,
                ),
                "green": _deployment(
                    "fraud-scorer",
                    "green",
                    "Succeeded",
                    1,
                    rps=1.3,
                    p50=9.1,
                    p99=55.0,
                    errors=0.03,
                    cpu=5.0,
                ),
            },
            "churn": {"blue": _deployment("churn", "blue", "Creating", 1)},
            "sandbox": {},
        }
        self.keys = views.EndpointKeys(
            primaryKey="k3y-primary-0123456789", secondaryKey="k3y-secondary"
        )
        # What rotated out of the log file: the dashboard's backlog never shows it, a search does.
        self.rotated_log_lines = [
            "2024-05-01T11:00:00.000Z blue-0 stderr INFO | init() starting",
            "2024-05-01T11:00:00.100Z blue-0 stderr ERROR | Traceback (most recent call last):",
            *(
                f"2024-05-01T11:{i // 60:02d}:{i % 60:02d}.000Z blue-1 stdout | warm {i}"
                for i in range(1, 300)
            ),
            "2024-05-01T11:30:00.000Z blue-0 stderr INFO | init() done after a restart",
            "2024-05-01T11:59:59.000Z blue-0 stderr ERROR | run() raised for req-1:",
        ]
        self.log_lines = [
            f"2024-05-01T12:00:{i:02d}.000Z blue-{i % 2} stderr INFO | request {i} processed"
            for i in range(40)
        ]
        self.jobs: dict[str, views.JobView] = {
            job.name: job
            for job in (
                _job("nightly-0430", "fraud-batch", "v1", "Completed", (500, 0, 500), 86400, 252),
                _job("fraud-0501-a", "fraud-batch", "v1", "Running", (180, 3, 500), 90, 90),
                _job("churn-0501", "churn-batch", "main", "Failed", (20, 15, 120), 3000, 41.5),
                _job("churn-0501-b", "churn-batch", "main", "Queued", (0, 0, 0), None, 0),
                _job("fraud-0430-x", "fraud-batch", "v1", "Canceled", (64, 0, 500), 7200, 3725),
            )
        }
        self.job_log_lines: dict[str, list[str]] = {
            name: [
                f"2024-05-01T11:58:{i:02d}Z INFO mini-batch {i} of {name}: 10 items"
                for i in range(30)
            ]
            for name in self.jobs
        }
        self.batch_endpoints: dict[str, views.BatchEndpointView] = {
            name: _batch_endpoint(name, default)
            for name, default in (("fraud-batch", "v1"), ("churn-batch", "main"))
        }
        self.calls: list[tuple[str, Any]] = []
        self.invoke_status = 200
        self.down = False
        self.metrics_gate: asyncio.Event | None = None
        """When set, metrics are answered only once it is: a slow devserver."""

    def _check(self) -> None:
        if self.down:
            raise NotRunning(f"cannot reach the devserver at {BASE}: connection refused")

    def _endpoint(self, name: str) -> views.EndpointView:
        if name not in self.endpoints:
            raise ClientError(f"online endpoint {name!r} does not exist", 404)
        return self.endpoints[name]

    async def aclose(self) -> None:
        pass

    async def list_endpoints(self) -> list[views.EndpointView]:
        self._check()
        return copy.deepcopy(list(self.endpoints.values()))

    async def get_endpoint(self, name: str) -> views.EndpointView:
        self._check()
        return copy.deepcopy(self._endpoint(name))

    async def create_endpoint(
        self, spec: Spec, source: str | None, local: bool = False
    ) -> views.EndpointView:
        self.calls.append(("create_endpoint", spec))
        self.endpoints[spec["name"]] = _endpoint(spec["name"], {}, [])
        self.deployments[spec["name"]] = {}
        return self.endpoints[spec["name"]]

    async def update_endpoint(self, name: str, **changes: Any) -> views.EndpointView:
        self._check()
        self.calls.append(("update_endpoint", (name, changes)))
        view = self._endpoint(name)
        if changes.get("traffic") is not None:
            traffic = changes["traffic"]
            if sum(traffic.values()) not in (0, 100):
                raise ClientError("traffic must add up to 100", 400)
            view.traffic = dict(traffic)
        if changes.get("mirror_traffic") is not None:
            merged = {**view.mirror_traffic, **changes["mirror_traffic"]}
            view.mirror_traffic = {n: p for n, p in merged.items() if p}
        return copy.deepcopy(view)

    async def delete_endpoint(self, name: str) -> None:
        self.calls.append(("delete_endpoint", name))
        self._endpoint(name)
        del self.endpoints[name]
        del self.deployments[name]

    async def get_credentials(self, name: str) -> views.Credentials:
        self._check()
        self._endpoint(name)
        return self.keys.model_copy()

    async def regenerate_keys(self, name: str, key_type: str) -> views.Credentials:
        self._check()
        self.calls.append(("regenerate_keys", (name, key_type)))
        self._endpoint(name)
        setattr(self.keys, f"{key_type}Key", f"k3y-{key_type}-regenerated")
        return self.keys.model_copy()

    async def mirror_report(self, name: str) -> views.MirrorReport:
        self._check()
        view = self._endpoint(name)
        return views.MirrorReport(
            endpoint=name,
            mirror_traffic=view.mirror_traffic,
            sent=0,
            compared=0,
            failed=0,
            skipped_busy=0,
            status_differs=0,
            body_differs=0,
            status_differs_rate=0,
            body_differs_rate=0,
            sent_to={},
            examples=[],
        )

    async def list_deployments(self, endpoint: str) -> list[views.DeploymentView]:
        self._check()
        self._endpoint(endpoint)
        return copy.deepcopy(list(self.deployments[endpoint].values()))

    async def get_deployment(self, endpoint: str, name: str) -> views.DeploymentView:
        self._check()
        return copy.deepcopy(self.deployments[endpoint][name])

    async def create_deployment(
        self,
        endpoint: str,
        spec: Spec,
        source: str | None,
        all_traffic: bool,
        runtime: str | None = None,
        watch: bool = False,
    ) -> views.DeploymentView:
        self.calls.append(("create_deployment", (endpoint, spec)))
        view = _deployment(endpoint, spec["name"], "Succeeded", 1)
        self.deployments[endpoint][spec["name"]] = view
        self.endpoints[endpoint].deployments.append(spec["name"])
        return view

    async def update_deployment(
        self,
        endpoint: str,
        name: str,
        spec: Spec | None = None,
        source: str | None = None,
        overrides: Spec | None = None,
        only_if_changed: bool = False,
        runtime: str | None = None,
        watch: bool | None = None,
    ) -> views.DeploymentView:
        self.calls.append(("update_deployment", (endpoint, name, overrides)))
        view = self.deployments[endpoint][name]
        if overrides and "instance_count" in overrides:
            view.instance_count = int(overrides["instance_count"])
        return copy.deepcopy(view)

    async def restart_deployment(self, endpoint: str, name: str) -> views.DeploymentView:
        self._check()
        self.calls.append(("restart_deployment", (endpoint, name)))
        view = self.deployments[endpoint][name]
        for instance in view.health.instances:
            instance.restarts += 1
        return copy.deepcopy(view)

    async def delete_deployment(self, endpoint: str, name: str) -> None:
        self.calls.append(("delete_deployment", (endpoint, name)))
        if self.endpoints[endpoint].traffic.get(name):
            raise ClientError(f"deployment {name!r} has traffic; move it first", 400)
        del self.deployments[endpoint][name]
        self.endpoints[endpoint].deployments.remove(name)

    async def follow_logs(
        self, endpoint: str, name: str, lines: int | None, instance: str | None = None
    ) -> AsyncIterator[str]:
        shown = [ln for ln in self.log_lines if instance is None or f" {instance} " in ln]
        yield "\n".join(shown[-(lines or len(shown)) :]) + "\n"
        # A real follow stays open until the deployment goes or the pane closes.
        await asyncio.Event().wait()

    async def search_logs(
        self,
        endpoint: str,
        name: str,
        text: str | None = None,
        *,
        offset: int = 0,
        limit: int = 100,
        instance: str | None = None,
        context: int = 0,
        request_id: str | None = None,
    ) -> views.LogSearchPage:
        """As the devserver answers; offsets count lines here (bytes there)."""
        self._check()
        self.calls.append(("search_logs", (endpoint, name, text, offset, request_id)))
        lines = self.rotated_log_lines + self.log_lines
        if request_id is not None:
            return _page([(i, ln) for i, ln in enumerate(lines) if "req-1" in ln], None, lines)
        return _search(lines, text or "", offset, limit, instance)

    async def endpoint_metrics(
        self, endpoint: str, window: str | None = None, step: str | None = None
    ) -> views.EndpointMetrics:
        self._check()
        if self.metrics_gate is not None:
            await self.metrics_gate.wait()
        view = self._endpoint(endpoint)
        seconds = int(str(window or "300s").rstrip("s"))
        step_s = int(str(step or "5s").rstrip("s"))
        points = math.ceil(seconds / step_s)
        start = int(CLOCK.timestamp()) - points * step_s + 1

        def wave(i: int, base: float, spread: float, phase: float) -> float:
            return round(base + spread * math.sin(i / 6 + phase), 3)

        blocks = {}
        for offset, name in enumerate(view.deployments):
            share = (view.traffic.get(name, 0) or 1) / 100
            blocks[name] = views.MetricsBlock(
                summary=_metrics(0, None, None, None, None),
                series=views.Series(
                    rps=[wave(i, 10 * share, 3 * share, offset) for i in range(points)],
                    error_rate=[0.0] * points,
                    p50_ms=[wave(i, 8 + offset, 2, offset) for i in range(points)],
                    p99_ms=[wave(i, 40 + 10 * offset, 8, offset + 1) for i in range(points)],
                    cpu_percent=[wave(i, 30 * share + 2, 4, offset) for i in range(points)],
                    memory_bytes=[180 * 1024 * 1024] * points,
                ),
            )
        empty = [None] * points
        return views.EndpointMetrics(
            endpoint=endpoint,
            window_seconds=points * step_s,
            step_seconds=step_s,
            start=STAMP,
            end=STAMP,
            timestamps=[start + i * step_s for i in range(points)],
            total=views.MetricsBlock(
                summary=_metrics(0, None, None, None, None),
                series=views.Series(
                    rps=[0] * points,
                    error_rate=empty,
                    p50_ms=empty,
                    p99_ms=empty,
                    cpu_percent=empty,
                    memory_bytes=empty,
                ),
            ),
            deployments=blocks,
        )

    async def validate(self, kind: str, spec: Spec) -> None:
        self.calls.append(("validate", kind))

    async def invoke(
        self,
        endpoint: str,
        body: bytes,
        *,
        deployment: str | None = None,
        content_type: str = "application/json",
    ) -> httpx.Response:
        self.calls.append(("invoke", (endpoint, deployment)))
        response = httpx.Response(
            self.invoke_status,
            json=[11.05, -3.2] if self.invoke_status < 400 else {"message": "run() failed"},
            headers={"azureml-model-deployment": deployment or "blue", "x-request-id": "req-1"},
        )
        # As the real client sets it: a fixed figure, not this machine's speed, in snapshots.
        response.elapsed = dt.timedelta(milliseconds=3)
        return response

    def _job(self, name: str) -> views.JobView:
        if name not in self.jobs:
            raise ClientError(f"job {name!r} does not exist", 404)
        return self.jobs[name]

    async def list_batch_endpoints(self) -> list[views.BatchEndpointView]:
        self._check()
        return copy.deepcopy(list(self.batch_endpoints.values()))

    async def invoke_batch(self, endpoint: str, **request: Any) -> views.JobView:
        self._check()
        self.calls.append(("invoke_batch", (endpoint, request)))
        if endpoint not in self.batch_endpoints:
            raise ClientError(f"batch endpoint {endpoint!r} does not exist", 404)
        deployment = request.get("deployment_name") or "v1"
        name = f"job-{len(self.jobs)}"
        job = _job(name, endpoint, deployment, "Queued", (0, 0, 0), None, 0)
        job.creation_context.created_at = "2030-01-01T00:00:00+00:00"  # the newest
        self.jobs[name] = job
        self.job_log_lines[name] = []
        return copy.deepcopy(job)

    async def list_jobs(self, endpoint: str | None = None) -> list[views.JobView]:
        self._check()
        jobs = [j for j in self.jobs.values() if endpoint in (None, j.endpoint_name)]
        return copy.deepcopy(jobs)

    async def get_job(self, name: str) -> views.JobView:
        self._check()
        return copy.deepcopy(self._job(name))

    async def cancel_job(self, name: str) -> views.JobView:
        self._check()
        self.calls.append(("cancel_job", name))
        job = self._job(name)
        if job.status in ("Completed", "Failed", "Canceled"):
            raise ClientError(f"job {name!r} is already {job.status}", 409)
        job.status = "Canceled"
        return copy.deepcopy(job)

    async def search_job_logs(
        self, name: str, text: str, *, offset: int = 0, limit: int = 100, context: int = 0
    ) -> views.LogSearchPage:
        self._check()
        self.calls.append(("search_job_logs", (name, text, offset)))
        return _search(self.job_log_lines[self._job(name).name], text, offset, limit, None)

    async def job_logs(self, name: str, offset: int = 0) -> tuple[str, int]:
        """Offsets count lines here (the devserver counts bytes): only their use is the same."""
        self._check()
        lines = self.job_log_lines[self._job(name).name]
        return "".join(f"{line}\n" for line in lines[offset:]), len(lines)


def _typed(source: FixedSource) -> Source:
    """Never called: mypy holds FixedSource to the dashboard's Source surface."""
    return source
