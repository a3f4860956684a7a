"""The batch side of the control plane: batch endpoints and deployments, the data and model
registry, and jobs (invoke, list, show, cancel, logs), kept in the store.

Every request is validated in full before anything is written, so a rejected one changes
nothing. Jobs run as asyncio tasks in the devserver; their workers are separate processes (or
Dask tasks), so a user's script can never take the devserver down.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import logging
import re
import time
import uuid
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from epdev.devserver.batch.inputs import resolve_input
from epdev.devserver.batch.jobs import JobRow, JobState, JobStore
from epdev.devserver.batch.local import LocalSlots
from epdev.devserver.batch.output import JobFolder
from epdev.devserver.batch.runner import JobRunner, overview
from epdev.devserver.batch.script import scoring_entry
from epdev.devserver.batch.slots import EngineFailed, Interpreter, ScriptSetup, Slots
from epdev.devserver.environments import Environments
from epdev.devserver.errors import BadRequest, Conflict, NotFound
from epdev.devserver.home import Home
from epdev.devserver.logs import SearchPage, search
from epdev.devserver.registry import Registry
from epdev.devserver.runtimechoice import choose_runtime
from epdev.devserver.store import Store
from epdev.runtimes.bundle import worker_bundle
from epdev.runtimes.environment import RuntimeEnvironment
from epdev.runtimes.environment import resolve as resolve_environment
from epdev.runtimes.instance import InstanceFailed, InstanceSpec
from epdev.runtimes.mlflow_registry import fetch_registered_model
from epdev.runtimes.staging import stage_model_dir
from epdev.runtimes.venv import VenvRuntime, worker_env
from epdev.specs import BatchDeployment, BatchEndpoint, BatchSettings, SpecError, validate_spec
from epdev.specs.kinds import SpecKind
from epdev.specs.loader import apply_overrides

log = logging.getLogger("epdev.devserver")

DASK_SCHEDULER_ENV = "EPDEV_DASK_SCHEDULER"
ENGINES = ("local", "dask")
RUNTIMES = ("auto", "process", "venv")
"""Where a batch deployment's job workers run: the devserver's Python, or a venv built from the
deployment's environment (shared with online deployments of the same environment)."""
CANCEL_WAIT_SECONDS = 10.0
_JOB_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,254}$")


class BatchControl:
    def __init__(
        self,
        home: Home,
        store: Store,
        dask_scheduler: str | None = None,
        default_runtime: str = "process",
    ) -> None:
        self.home = home
        # A devserver whose default is docker still runs batch jobs on its own Python.
        self.default_runtime = default_runtime if default_runtime in RUNTIMES else "process"
        self.store = store
        self.registry = Registry(store)
        self.environments = Environments(store, home.root / "environments")
        self.jobs = JobStore(store)
        self.dask_scheduler = dask_scheduler
        self.base_url = ""
        self._runners: dict[str, tuple[JobRunner, asyncio.Task[None]]] = {}
        self._lock = asyncio.Lock()

    @property
    def jobs_dir(self) -> Path:
        return self.home.root / "jobs"

    # Life cycle

    async def restore(self) -> None:
        """Resume the jobs that were queued or running when the devserver stopped."""
        for row in self.jobs.all():
            if not row.state.finished:
                # The job itself fails with the reason if its folder cannot be written.
                with contextlib.suppress(OSError):
                    JobFolder(Path(row.plan["job_dir"])).ensure().log("devserver restarted")
                self._start(row.name)

    async def shutdown(self) -> None:
        tasks = [task for _, task in self._runners.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # Endpoints

    def _endpoint_row(self, name: str) -> Any:
        rows = self.store.query("SELECT * FROM batch_endpoints WHERE name = ?", (name,))
        if not rows:
            raise NotFound(f"batch endpoint {name!r} does not exist")
        return rows[0]

    def endpoint_names(self) -> list[str]:
        rows = self.store.query("SELECT name FROM batch_endpoints ORDER BY created_at")
        return [row["name"] for row in rows]

    async def create_endpoint(self, data: dict[str, Any], source: str | None) -> dict[str, Any]:
        async with self._lock:
            spec = _validated("batch-endpoint", data)
            assert isinstance(spec, BatchEndpoint)
            if self.store.query("SELECT 1 FROM batch_endpoints WHERE name = ?", (spec.name,)):
                raise Conflict(
                    f"batch endpoint {spec.name!r} already exists; use `batch-endpoint update`"
                )
            now = time.time()
            self.store.execute(
                "INSERT INTO batch_endpoints (name, spec, source, default_deployment, created_at, "
                "updated_at) VALUES (?, ?, ?, ?, ?, ?)",
                (spec.name, _dump(spec), source, spec.defaults.deployment_name, now, now),
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
            spec_text, default = row["spec"], row["default_deployment"]
            if data is not None:
                spec = _validated("batch-endpoint", data)
                assert isinstance(spec, BatchEndpoint)
                if spec.name != name:
                    raise BadRequest(f"the spec names batch endpoint {spec.name!r}, not {name!r}")
                spec_text = _dump(spec)
                default = spec.defaults.deployment_name or default
            if default_deployment is not None:
                self.deployment_row(name, default_deployment)
                default = default_deployment
            self.store.execute(
                "UPDATE batch_endpoints SET spec = ?, source = COALESCE(?, source), "
                "default_deployment = ?, updated_at = ? WHERE name = ?",
                (spec_text, source, default, time.time(), name),
            )
            return self.endpoint_view(name)

    async def delete_endpoint(self, name: str) -> None:
        async with self._lock:
            self._endpoint_row(name)
            running = [r.name for r in self.jobs.all(name) if not r.state.finished]
            if running:
                raise Conflict(
                    f"batch endpoint {name!r} has unfinished jobs ({', '.join(running)}); "
                    "cancel them first"
                )
            self.store.execute("DELETE FROM batch_endpoints WHERE name = ?", (name,))

    def default_deployment(self, name: str) -> str | None:
        """`defaults.deployment_name` (or `--set-default`) when it exists, else the first one
        created."""
        row = self._endpoint_row(name)
        names = self.deployment_names(name)
        if row["default_deployment"] in names:
            return str(row["default_deployment"])
        return names[0] if names else None

    def endpoint_view(self, name: str) -> dict[str, Any]:
        row = self._endpoint_row(name)
        spec = BatchEndpoint.model_validate(json.loads(row["spec"]))
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
            "source": row["source"],
            "created_at": _iso(row["created_at"]),
            "updated_at": _iso(row["updated_at"]),
            "cloud_only": spec.cloud_only_in_use(),
        }

    # Deployments

    def deployment_names(self, endpoint: str) -> list[str]:
        rows = self.store.query(
            "SELECT name FROM batch_deployments WHERE endpoint = ? ORDER BY created_at",
            (endpoint,),
        )
        return [row["name"] for row in rows]

    def deployment_row(self, endpoint: str, name: str) -> Any:
        self._endpoint_row(endpoint)
        rows = self.store.query(
            "SELECT * FROM batch_deployments WHERE endpoint = ? AND name = ?", (endpoint, name)
        )
        if not rows:
            raise NotFound(f"deployment {name!r} does not exist in batch endpoint {endpoint!r}")
        return rows[0]

    def deployment_spec(self, endpoint: str, name: str) -> BatchDeployment:
        row = self.deployment_row(endpoint, name)
        spec = _validated("batch-deployment", json.loads(row["spec"]), check_files=False)
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
            raise BadRequest(_NO_DASK)
        return spec

    def _runtime(self, runtime: str | None, spec: BatchDeployment) -> tuple[str, list[str]]:
        """The runtime's name (auto decided) and the notes saying why and what it leaves out."""
        name = runtime or self.default_runtime
        if name == "docker":
            raise BadRequest(
                "batch jobs run on the process or venv runtime, not docker (docker is for online "
                "deployments); use --runtime venv for an isolated environment"
            )
        if name not in RUNTIMES:
            raise BadRequest(f"runtime {name!r} is not one of {', '.join(RUNTIMES)}")
        return choose_runtime(name, self._environment(spec))

    def _environment(self, spec: BatchDeployment) -> RuntimeEnvironment:
        """The deployment's environment as a venv would build it (a 400 for a reference to
        nothing known); an MLflow registry URI's model is not fetched for this."""
        model_path = spec.model_path
        if isinstance(spec.model, str):
            model_path = self.registry.model(spec.model).path
        code = spec.code_configuration
        return self.environments.runtime_environment(
            spec.environment,
            code_dir=code.code if code else None,
            model_path=model_path,
            serves_mlflow=code is None,
        )

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
            now = time.time()
            with self.store.transaction() as db:
                self.store.execute(
                    "INSERT INTO batch_deployments (endpoint, name, spec, source, created_at, "
                    "updated_at, runtime) VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (endpoint, spec.name, _dump(spec), source, now, now, runtime),
                    db,
                )
                if set_default:
                    self.store.execute(
                        "UPDATE batch_endpoints SET default_deployment = ? WHERE name = ?",
                        (spec.name, endpoint),
                        db,
                    )
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
            merged = dict(data) if data is not None else json.loads(row["spec"])
            if overrides:
                try:
                    merged = apply_overrides(merged, overrides)
                except SpecError as exc:
                    raise BadRequest(str(exc)) from None
            spec = self._validate_deployment(endpoint, merged)
            if spec.name != name:
                raise BadRequest(f"the spec names deployment {spec.name!r}, not {name!r}")
            runtime, notes = self._runtime(runtime or row["runtime"], spec)
            self.store.execute(
                "UPDATE batch_deployments SET spec = ?, source = COALESCE(?, source), "
                "updated_at = ?, runtime = ? WHERE endpoint = ? AND name = ?",
                (_dump(spec), source, time.time(), runtime, endpoint, name),
            )
            if set_default:
                self.store.execute(
                    "UPDATE batch_endpoints SET default_deployment = ? WHERE name = ?",
                    (name, endpoint),
                )
            return self.deployment_view(endpoint, name, notes)

    async def delete_deployment(self, endpoint: str, name: str) -> None:
        async with self._lock:
            self.deployment_row(endpoint, name)
            running = [
                r.name
                for r in self.jobs.all(endpoint)
                if r.deployment == name and not r.state.finished
            ]
            if running:
                raise Conflict(
                    f"deployment {name!r} has unfinished jobs ({', '.join(running)}); cancel "
                    "them first"
                )
            self.store.execute(
                "DELETE FROM batch_deployments WHERE endpoint = ? AND name = ?", (endpoint, name)
            )

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
            "runtime": row["runtime"],
            # Why that runtime, said by the create or update that chose it.
            **({"runtime_notes": notes} if notes else {}),
            "is_default": self.default_deployment(endpoint) == name,
            "provisioning_state": "Succeeded",
            "source": row["source"],
            "created_at": _iso(row["created_at"]),
            "updated_at": _iso(row["updated_at"]),
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
            runtime, notes = self._runtime(
                self.deployment_row(endpoint, deployment)["runtime"], spec
            )
            name = job_name or str(uuid.uuid4())
            if not _JOB_NAME.fullmatch(name):
                raise BadRequest(
                    f"job name {name!r}: use letters, digits, '-' and '_', starting with a letter "
                    "or digit"
                )
            if self.jobs.exists(name):
                raise Conflict(f"job {name!r} already exists")
            settings, instances, engine = _job_settings(
                spec, mini_batch_size, instance_count, overrides, engine
            )
            if engine == "dask" and not self.dask_scheduler:
                raise BadRequest(_NO_DASK)
            source = resolve_input(self.registry, input, input_type)
            model_path, model_is_mlflow = await asyncio.to_thread(self._model, spec)
            app_root, entry_script = scoring_entry(spec, model_is_mlflow)
            env = spec.environment if not isinstance(spec.environment, str) else None
            job_dir = self.jobs_dir / name
            if output_path is not None and not Path(output_path).is_absolute():
                raise BadRequest(f"--output-path {output_path!r} must be absolute")
            output_dir = Path(output_path) if output_path else job_dir / "outputs"
            environment = dict(settings.environment_variables)
            environment["AZUREML_BI_OUTPUT_PATH"] = str(output_dir)
            environment["AZUREML_LOG_LEVEL"] = settings.logging_level
            plan = {
                "input": {
                    "source": source.source,
                    "path": str(source.path) if source.url is None else None,
                    "type": source.type,
                    "url": source.url,
                },
                "output_dir": str(output_dir),
                "output_file": str(output_dir / settings.output_file_name),
                "settings": settings.model_dump(mode="json"),
                "instance_count": instances,
                "slots": instances * settings.max_concurrency_per_instance,
                "engine": engine,
                "script": {
                    "app_root": str(app_root),
                    "entry_script": entry_script,
                    "model_path": str(model_path) if model_path else None,
                    "environment": environment,
                    "runtime": runtime,
                    "builtin_mlflow": spec.code_configuration is None,
                    "conda_file": str(env.conda_file) if env and env.conda_file else None,
                    "environment_ref": (
                        spec.environment if isinstance(spec.environment, str) else None
                    ),
                },
                "job_dir": str(job_dir),
            }
            folder = JobFolder(job_dir).ensure()
            output_dir.mkdir(parents=True, exist_ok=True)
            for note in notes:
                folder.log(f"note: {note}")
            folder.log(
                f"job {name} on {endpoint}/{deployment}: input {input} ({source.type}), "
                f"output {plan['output_file']}, engine {engine}"
            )
            self.jobs.add(
                JobRow(
                    name=name,
                    endpoint=endpoint,
                    deployment=deployment,
                    state=JobState.QUEUED,
                    plan=plan,
                )
            )
            self._start(name)
            return self.job_view(name)

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

    def _start(self, name: str) -> None:
        row = self.jobs.get(name)
        assert row is not None
        folder = JobFolder(Path(row.plan["job_dir"]))
        runner = JobRunner(self.jobs, name, folder, lambda size: self._slots(row, folder, size))
        task = asyncio.create_task(runner.run(), name=f"batch-job-{name}")
        self._runners[name] = (runner, task)
        task.add_done_callback(lambda _: self._runners.pop(name, None))

    def _slots(self, row: JobRow, folder: JobFolder, size: int) -> Slots:
        script = row.plan["script"]
        model_path = Path(script["model_path"]) if script["model_path"] else None
        staged = InstanceSpec(
            endpoint=row.endpoint,
            deployment=row.deployment,
            index=0,
            code_dir=Path(script["app_root"]),
            scoring_script=script["entry_script"],
            model_path=model_path,
        )
        setup = ScriptSetup(
            app_root=Path(script["app_root"]),
            entry_script=script["entry_script"],
            model_dir=stage_model_dir(staged, folder.root),
            environment=dict(script["environment"]),
            summary_only=row.plan["settings"]["output_action"] == "summary_only",
        )
        if row.plan.get("engine") == "dask":
            from epdev.devserver.batch.daskengine import DaskSlots

            if not self.dask_scheduler:
                raise EngineFailed(_NO_DASK)  # the devserver restarted without one
            return DaskSlots(self.dask_scheduler, setup, size)
        if script.get("runtime") == "venv":
            return LocalSlots(
                setup, size, folder.worker_log, lambda: self._venv(script, model_path, folder)
            )
        return LocalSlots(setup, size, folder.worker_log)

    async def _venv(
        self, script: dict[str, Any], model_path: Path | None, folder: JobFolder
    ) -> Interpreter:
        """The venv of the job's environment, built (build lines to the job log) unless the
        cache already has it: the same cache and builder as online venv deployments."""
        conda_file = script.get("conda_file")
        reference = script.get("environment_ref")
        if reference:
            try:
                python = self.environments.runtime_environment(
                    reference,
                    code_dir=Path(script["app_root"]),
                    model_path=model_path,
                    serves_mlflow=bool(script.get("builtin_mlflow")),
                ).python
            except BadRequest as exc:
                raise EngineFailed(str(exc)) from None
        else:
            python = resolve_environment(
                conda_file=Path(conda_file) if conda_file else None,
                code_dir=Path(script["app_root"]),
                model_path=model_path,
                serves_mlflow=bool(script.get("builtin_mlflow")),
            ).python
        for note in python.notes:
            folder.log(f"warning: {note}")
        folder.log(f"venv runtime: environment from {python.source}")
        cache = self.home.root / "cache"
        venv = await VenvRuntime().ensure_venv(
            python, cache, lambda stream, line: folder.log(f"[{stream}] {line}")
        )
        bundle = await asyncio.to_thread(worker_bundle, cache)
        folder.log(f"venv runtime: workers run on {venv / 'bin' / 'python'}")
        return Interpreter(
            str(venv / "bin" / "python"), worker_env(venv, bundle, dict(script["environment"]))
        )

    def job(self, name: str) -> JobRow:
        row = self.jobs.get(name)
        if row is None:
            raise NotFound(f"job {name!r} does not exist")
        found = self._runners.get(name)
        if found is not None and found[0].outcome is not None and not row.state.finished:
            # It has ended, but the store could not take its final state yet (a full disk).
            row.state, row.error = found[0].outcome
            row.ended_at = found[0].ended_at
        return row

    def job_view(self, name: str) -> dict[str, Any]:
        row = self.job(name)
        view = row.view()
        progress = view["progress"]
        elapsed = progress["elapsed_seconds"]
        handled = row.items_done + row.items_failed
        rate = handled / elapsed if elapsed > 0 else 0.0
        progress["items_per_second"] = round(rate, 3)
        remaining = max(0, row.items_total - handled)
        progress["eta_seconds"] = (
            round(remaining / rate, 1) if rate > 0 and not row.state.finished else None
        )
        return view

    def list_jobs(self, endpoint: str | None) -> list[dict[str, Any]]:
        if endpoint is not None:
            self._endpoint_row(endpoint)
        return [self.job_view(row.name) for row in self.jobs.all(endpoint)]

    async def cancel(self, name: str) -> dict[str, Any]:
        row = self.job(name)
        if row.state.finished:
            raise Conflict(f"job {name!r} is already {row.state.value}")
        found = self._runners.get(name)
        if found is None:
            self.jobs.set_state(name, JobState.CANCELED, "canceled by the user")
        else:
            runner, task = found
            runner.canceled = True
            task.cancel()
            # Its workers stop at once; only saving the final state can wait (on a full disk),
            # and until then the job shows it as Canceled anyway.
            await asyncio.wait({task}, timeout=CANCEL_WAIT_SECONDS)
        return self.job_view(name)

    def job_logs(self, name: str, offset: int) -> tuple[str, int]:
        row = self.job(name)
        return JobFolder(Path(row.plan["job_dir"])).read_logs(offset)

    def search_job_logs(
        self, name: str, pattern: str, offset: int = 0, limit: int = 100, context: int = 0
    ) -> SearchPage:
        """A page of the job log's lines that contain `pattern` (reads files: run on a thread)."""
        row = self.job(name)
        log = JobFolder(Path(row.plan["job_dir"])).job_log
        return search(log, pattern, offset=offset, limit=limit, context=context)

    def job_overview(self, name: str) -> dict[str, Any]:
        return overview(self.job(name))


_NO_DASK = (
    "engine dask needs a Dask scheduler: start the devserver with `epdev serve --dask-scheduler "
    f"ADDRESS` (or {DASK_SCHEDULER_ENV}=ADDRESS)"
)


def _job_settings(
    spec: BatchDeployment,
    mini_batch_size: int | None,
    instance_count: int | None,
    overrides: dict[str, Any],
    engine: str | None,
) -> tuple[BatchSettings, int, str]:
    """The deployment's settings with the invocation's flags and `--set` pairs on top."""
    data = spec.tuning.model_dump(mode="json")
    instances = spec.instance_count
    engine = engine or spec.engine
    rest: dict[str, Any] = {}
    for key, value in overrides.items():
        bare = key.removeprefix("settings.")
        if bare in ("instance_count", "resources.instance_count"):
            instances = value
        elif bare in ("engine", "properties.engine"):
            engine = str(value)
        else:
            rest[bare] = value
    if mini_batch_size is not None:
        rest["mini_batch_size"] = mini_batch_size
    try:
        data = apply_overrides(data, rest)
        settings = BatchSettings.model_validate(data)
    except SpecError as exc:
        raise BadRequest(str(exc)) from None
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise BadRequest(f"invalid job settings: {problems}") from None
    if instance_count is not None:
        instances = instance_count
    if isinstance(instances, bool) or not isinstance(instances, int) or instances < 1:
        raise BadRequest(f"instance_count must be a whole number of at least 1, not {instances!r}")
    if engine not in ENGINES:
        raise BadRequest(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    return settings, instances, engine


def _validated(kind: SpecKind, data: dict[str, Any], check_files: bool = True) -> Any:
    try:
        return validate_spec(kind, data, check_files=check_files).spec
    except SpecError as exc:
        raise BadRequest(str(exc)) from None


def _dump(spec: BatchEndpoint | BatchDeployment) -> str:
    return json.dumps(spec.model_dump(mode="json", by_alias=True, exclude_unset=True))


def _iso(stamp: float) -> str:
    return dt.datetime.fromtimestamp(stamp, dt.UTC).isoformat(timespec="seconds")
