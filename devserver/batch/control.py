"""The batch side of the control plane: batch endpoints and deployments, the data and model
registry, and invoking jobs (`jobs` runs, shows and cancels them).

Every request is validated in full before anything is written, so a rejected one changes
nothing. Rows are kept by `endpointstore` and `jobstore`; a job's plan is `plan`'s, and its
workers are made by `workers`. Jobs run as asyncio tasks in the devserver; their workers are
separate processes (or Dask tasks), so a user's script can never take the devserver down.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
import uuid
from pathlib import Path
from typing import Any

from epdev.devserver.assets import Registry
from epdev.devserver.batch.endpointstore import (
    BatchDeploymentRow,
    BatchEndpointRow,
    BatchEndpointStore,
)
from epdev.devserver.batch.inputs import resolve_input
from epdev.devserver.batch.jobs import Jobs
from epdev.devserver.batch.jobstore import JobRow, JobState, JobStore
from epdev.devserver.batch.output import JobFolder
from epdev.devserver.batch.plan import WorkerRuntime, job_settings, make_plan
from epdev.devserver.batch.workers import DASK_SCHEDULER_ENV, NO_DASK, Workers
from epdev.devserver.environments import Environments
from epdev.devserver.errors import BadRequest, Conflict, NotFound
from epdev.devserver.home import Home
from epdev.devserver.runtimechoice import choose_runtime, deployment_environment
from epdev.devserver.store import Store
from epdev.runtimes.catalog import Runtimes
from epdev.runtimes.instance import InstanceFailed
from epdev.runtimes.mlflow_registry import fetch_registered_model
from epdev.specs import BatchDeployment, BatchEndpoint, BatchSettings, SpecError, validate_spec
from epdev.specs.kinds import SpecKind
from epdev.specs.overrides import apply_overrides

__all__ = ["DASK_SCHEDULER_ENV", "BatchControl"]

RUNTIMES = ("auto", "process", "venv")
"""Where a batch deployment's job workers run: the devserver's Python, or a venv built from the
deployment's environment (shared with online deployments of the same environment)."""
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")


class BatchControl:
    def __init__(
        self, home: Home, store: Store, dask_scheduler: str | None, runtimes: Runtimes
    ) -> None:
        self.home = home
        # A devserver whose default is docker still runs batch jobs on its own Python.
        self.default_runtime = runtimes.default if runtimes.default in RUNTIMES else "process"
        self.store = store
        self.rows = BatchEndpointStore(store)
        self.registry = Registry(store)
        self.environments = Environments(store, home.root / "environments")
        self.dask_scheduler = dask_scheduler
        workers = Workers(runtimes, self.environments, home.root / "cache", dask_scheduler)
        self.jobs = Jobs(JobStore(store), workers)
        self.base_url = ""
        self._lock = asyncio.Lock()

    @property
    def jobs_dir(self) -> Path:
        return self.home.root / "jobs"

    # Life cycle

    async def restore(self) -> None:
        await self.jobs.restore()

    async def shutdown(self) -> None:
        await self.jobs.shutdown()

    # Endpoints

    def _endpoint_row(self, name: str) -> BatchEndpointRow:
        row = self.rows.endpoint(name)
        if row is None:
            raise NotFound(f"batch endpoint {name!r} does not exist")
        return row

    def endpoint_names(self) -> list[str]:
        return self.rows.endpoint_names()

    async def create_endpoint(self, data: dict[str, Any], source: str | None) -> dict[str, Any]:
        async with self._lock:
            spec = _validated("batch-endpoint", data)
            assert isinstance(spec, BatchEndpoint)
            if self.rows.endpoint(spec.name) is not None:
                raise Conflict(
                    f"batch endpoint {spec.name!r} already exists; use `batch-endpoint update`"
                )
            self.rows.add_endpoint(
                BatchEndpointRow(spec.name, _dump(spec), source, spec.defaults.deployment_name)
            )
            return self.endpoint_view(spec.name)

    async def update_endpoint(
        self,
        name: str,
        data: dict[str, Any] | None,
        source: str | None,
        default_deployment: str | None,
    ) -> dict[str, Any]:
        async with self._lock:
            row = self._endpoint_row(name)
            if data is not None:
                spec = _validated("batch-endpoint", data)
                assert isinstance(spec, BatchEndpoint)
                if spec.name != name:
                    raise BadRequest(f"the spec names batch endpoint {spec.name!r}, not {name!r}")
                row.spec = _dump(spec)
                row.default_deployment = spec.defaults.deployment_name or row.default_deployment
            if default_deployment is not None:
                self.deployment_row(name, default_deployment)
                row.default_deployment = default_deployment
            row.source = source if source is not None else row.source
            self.rows.save_endpoint(row)
            return self.endpoint_view(name)

    async def delete_endpoint(self, name: str) -> None:
        async with self._lock:
            self._endpoint_row(name)
            running = self.jobs.unfinished(name)
            if running:
                raise Conflict(
                    f"batch endpoint {name!r} has unfinished jobs ({', '.join(running)}); "
                    "cancel them first"
                )
            self.rows.delete_endpoint(name)

    def default_deployment(self, name: str) -> str | None:
        """`defaults.deployment_name` (or `--set-default`) when it exists, else the first one
        created."""
        named = self._endpoint_row(name).default_deployment
        names = self.deployment_names(name)
        if named in names:
            return named
        return names[0] if names else None

    def endpoint_view(self, name: str) -> dict[str, Any]:
        row = self._endpoint_row(name)
        spec = BatchEndpoint.model_validate(row.spec)
        return {
            "name": name,
            "description": spec.description,
            "tags": spec.tags,
            "properties": spec.properties,
            "auth_mode": spec.auth_mode,
            "defaults": {"deployment_name": self.default_deployment(name)},
            "deployments": self.deployment_names(name),
            "provisioning_state": "Succeeded",
            "scoring_uri": f"{self.base_url}/api/v1/batch-endpoints/{name}/jobs",
            "source": row.source,
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
            "cloud_only": spec.cloud_only_in_use(),
        }

    # Deployments

    def deployment_names(self, endpoint: str) -> list[str]:
        return self.rows.deployment_names(endpoint)

    def deployment_row(self, endpoint: str, name: str) -> BatchDeploymentRow:
        self._endpoint_row(endpoint)
        row = self.rows.deployment(endpoint, name)
        if row is None:
            raise NotFound(f"deployment {name!r} does not exist in batch endpoint {endpoint!r}")
        return row

    def deployment_spec(self, endpoint: str, name: str) -> BatchDeployment:
        row = self.deployment_row(endpoint, name)
        spec = _validated("batch-deployment", row.spec, check_files=False)
        assert isinstance(spec, BatchDeployment)
        return spec

    def check(self, kind: SpecKind, data: dict[str, Any]) -> None:
        """Validate a batch spec as create or update would, changing nothing."""
        if kind == "batch-endpoint":
            _validated(kind, data)
            return
        endpoint = data.get("endpoint_name")
        if not isinstance(endpoint, str):
            raise BadRequest("endpoint_name is not set")
        self._validate_deployment(endpoint, data)

    def _validate_deployment(self, endpoint: str, data: dict[str, Any]) -> BatchDeployment:
        named = data.get("endpoint_name")
        if named is not None and named != endpoint:
            raise BadRequest(
                f"the spec's endpoint_name is {named!r} but the request is for batch endpoint "
                f"{endpoint!r}"
            )
        spec = _validated("batch-deployment", {**data, "endpoint_name": endpoint})
        assert isinstance(spec, BatchDeployment)
        if isinstance(spec.model, str):
            self.registry.model(spec.model, without_code=spec.code_configuration is None)
        if spec.engine == "dask" and not self.dask_scheduler:
            raise BadRequest(NO_DASK)
        return spec

    def _runtime(
        self, runtime: str | None, spec: BatchDeployment
    ) -> tuple[WorkerRuntime, list[str]]:
        """The runtime's name (auto decided) and the notes saying why and what it leaves out."""
        name = runtime or self.default_runtime
        if name == "docker":
            raise BadRequest(
                "batch jobs run on the process or venv runtime, not docker (docker is for online "
                "deployments); use --runtime venv for an isolated environment"
            )
        if name not in RUNTIMES:
            raise BadRequest(f"runtime {name!r} is not one of {', '.join(RUNTIMES)}")
        chosen, notes = choose_runtime(
            name, deployment_environment(spec, self.registry, self.environments)
        )
        return ("venv" if chosen == "venv" else "process"), notes

    async def create_deployment(
        self,
        endpoint: str,
        data: dict[str, Any],
        source: str | None,
        set_default: bool,
        runtime: str | None = None,
    ) -> dict[str, Any]:
        async with self._lock:
            self._endpoint_row(endpoint)
            spec = self._validate_deployment(endpoint, data)
            runtime, notes = self._runtime(runtime, spec)
            if spec.name in self.deployment_names(endpoint):
                raise Conflict(
                    f"deployment {spec.name!r} already exists in batch endpoint {endpoint!r}; "
                    "use `batch-deployment update`"
                )
            row = BatchDeploymentRow(endpoint, spec.name, _dump(spec), source, runtime)
            self.rows.add_deployment(row, make_default=set_default)
            return self.deployment_view(endpoint, spec.name, notes)

    async def update_deployment(
        self,
        endpoint: str,
        name: str,
        data: dict[str, Any] | None,
        overrides: dict[str, Any] | None,
        source: str | None,
        set_default: bool = False,
        runtime: str | None = None,
    ) -> dict[str, Any]:
        async with self._lock:
            row = self.deployment_row(endpoint, name)
            merged = dict(data) if data is not None else row.spec
            if overrides:
                try:
                    merged = apply_overrides(merged, overrides)
                except SpecError as exc:
                    raise BadRequest(str(exc)) from None
            spec = self._validate_deployment(endpoint, merged)
            if spec.name != name:
                raise BadRequest(f"the spec names deployment {spec.name!r}, not {name!r}")
            row.runtime, notes = self._runtime(runtime or row.runtime, spec)
            row.spec = _dump(spec)
            row.source = source if source is not None else row.source
            self.rows.save_deployment(row, make_default=set_default)
            return self.deployment_view(endpoint, name, notes)

    async def delete_deployment(self, endpoint: str, name: str) -> None:
        async with self._lock:
            self.deployment_row(endpoint, name)
            running = self.jobs.unfinished(endpoint, name)
            if running:
                raise Conflict(
                    f"deployment {name!r} has unfinished jobs ({', '.join(running)}); cancel "
                    "them first"
                )
            self.rows.delete_deployment(endpoint, name)

    def deployment_view(
        self, endpoint: str, name: str, notes: list[str] | None = None
    ) -> dict[str, Any]:
        row = self.deployment_row(endpoint, name)
        spec = self.deployment_spec(endpoint, name)
        shown = spec.model_dump(mode="json", by_alias=True, exclude_none=True)
        for key in ("$schema", *BatchSettings.model_fields):
            shown.pop(key, None)  # the root-level tuning is shown merged under settings
        return {
            **shown,
            "endpoint_name": endpoint,
            "settings": spec.tuning.model_dump(mode="json"),
            "engine": spec.engine,
            "runtime": row.runtime,
            # Why that runtime, said by the create or update that chose it.
            **({"runtime_notes": notes} if notes else {}),
            "is_default": self.default_deployment(endpoint) == name,
            "provisioning_state": "Succeeded",
            "source": row.source,
            "created_at": _iso(row.created_at),
            "updated_at": _iso(row.updated_at),
            "cloud_only": spec.cloud_only_in_use(),
        }

    # Jobs

    async def invoke(
        self,
        endpoint: str,
        *,
        deployment: str | None,
        input: str,
        input_type: str | None,
        output_path: str | None,
        job_name: str | None,
        mini_batch_size: int | None,
        instance_count: int | None,
        overrides: dict[str, Any],
        engine: str | None,
    ) -> dict[str, Any]:
        """Create a job and start it; returns at once with the job Queued."""
        async with self._lock:
            self._endpoint_row(endpoint)
            deployment = deployment or self.default_deployment(endpoint)
            if deployment is None:
                raise BadRequest(f"batch endpoint {endpoint!r} has no deployments to run a job")
            spec = self.deployment_spec(endpoint, deployment)
            runtime, notes = self._runtime(self.deployment_row(endpoint, deployment).runtime, spec)
            name = job_name or str(uuid.uuid4())
            if not _JOB_NAME.fullmatch(name):
                raise BadRequest(
                    f"job name {name!r}: use letters, digits, '-' and '_', starting with a letter "
                    "or digit"
                )
            if self.jobs.store.exists(name):
                raise Conflict(f"job {name!r} already exists")
            settings, instances, chosen = job_settings(
                spec, mini_batch_size, instance_count, overrides, engine
            )
            if chosen == "dask" and not self.dask_scheduler:
                raise BadRequest(NO_DASK)
            source = resolve_input(self.registry, input, input_type)
            model = await asyncio.to_thread(self._model, spec)
            plan = make_plan(
                spec,
                job_dir=self.jobs_dir / name,
                output_path=output_path,
                source=source,
                model=model,
                settings=settings,
                instances=instances,
                engine=chosen,
                runtime=runtime,
            )
            folder = JobFolder(plan.job_dir).ensure()
            plan.output_dir.mkdir(parents=True, exist_ok=True)
            for note in notes:
                folder.log(f"note: {note}")
            folder.log(
                f"job {name} on {endpoint}/{deployment}: input {input} ({source.type}), "
                f"output {plan.output_file}, engine {chosen}"
            )
            self.jobs.start(JobRow(name, endpoint, deployment, JobState.QUEUED, plan))
            return self.jobs.view(name)

    def _model(self, spec: BatchDeployment) -> tuple[Path | None, bool]:
        """The local model and whether it is an MLflow model: a path, a registered `azureml:`
        model, or an MLflow registry URI fetched (once per version) as online deployments do."""
        if isinstance(spec.model, str):
            asset = self.registry.model(spec.model)
            return asset.path, asset.is_mlflow
        if spec.model_uri is not None:
            variables = {k: str(v) for k, v in spec.tuning.environment_variables.items()}
            try:
                folder, _ = fetch_registered_model(
                    spec.model_uri, variables, self.home.root / "cache"
                )
            except InstanceFailed as exc:
                raise BadRequest(str(exc)) from None
            return folder, True
        return spec.model_path, spec.is_mlflow

    def list_jobs(self, endpoint: str | None) -> list[dict[str, Any]]:
        if endpoint is not None:
            self._endpoint_row(endpoint)
        return self.jobs.views(endpoint)


def _validated(kind: SpecKind, data: dict[str, Any], check_files: bool = True) -> Any:
    try:
        return validate_spec(kind, data, check_files=check_files).spec
    except SpecError as exc:
        raise BadRequest(str(exc)) from None


def _dump(spec: BatchEndpoint | BatchDeployment) -> dict[str, Any]:
    return spec.model_dump(mode="json", by_alias=True, exclude_unset=True)


def _iso(stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="seconds")
