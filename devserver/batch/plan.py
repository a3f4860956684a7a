"""A job's plan: everything `invoke` decided (input, output, settings, workers, script), stored
with the job so that a restarted devserver runs the same job, whatever happened to its
deployment since.

Stored as JSON in `batch_jobs.plan`, in the shape the first batch release wrote; fields that
later releases added have defaults that mean what their absence meant (the process runtime, a
deployment's own script), so older jobs still load and resume.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError

from epdev.devserver.batch.inputs import ResolvedInput
from epdev.devserver.batch.script import scoring_entry
from epdev.devserver.errors import BadRequest
from epdev.specs import BatchDeployment, BatchSettings, SpecError
from epdev.specs.batch import Engine
from epdev.specs.overrides import apply_overrides

ENGINES: tuple[Engine, ...] = ("local", "dask")
WorkerRuntime = Literal["process", "venv"]
"""Where a job's workers run: the devserver's Python, or a venv of the deployment's environment."""


class InputPlan(BaseModel):
    source: str
    """What the caller gave: a path, a URL or an `azureml:` data reference."""
    path: str | None = None
    """Where the files are; None for a URL, downloaded when the job starts."""
    type: str
    url: str | None = None


class ScriptPlan(BaseModel):
    """How every worker of the job loads its batch script, and on which Python."""

    app_root: Path
    entry_script: str
    model_path: Path | None = None
    environment: dict[str, str] = Field(default_factory=dict)
    # Added with the venv runtime; plans made before it ran on the devserver's Python.
    runtime: WorkerRuntime = "process"
    builtin_mlflow: bool = False
    conda_file: Path | None = None
    # Added with registered environments: the deployment's `azureml:` or curated reference.
    environment_ref: str | None = None


class JobPlan(BaseModel):
    input: InputPlan
    output_dir: Path
    output_file: Path
    settings: BatchSettings
    instance_count: int
    slots: int
    """Workers at once: instance_count times max_concurrency_per_instance."""
    engine: Engine = "local"
    script: ScriptPlan
    job_dir: Path

    @property
    def appends_rows(self) -> bool:
        return self.settings.output_action == "append_row"

    def dump(self) -> str:
        return self.model_dump_json()

    @classmethod
    def load(cls, text: str, job: str) -> JobPlan:
        """The stored plan of `job`; a ValueError naming the job and field if it is unreadable."""
        try:
            return cls.model_validate_json(text)
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "plan"
            raise ValueError(
                f"job {job!r}: its stored plan is unreadable: {where}: {first['msg']}"
            ) from None


def job_settings(
    spec: BatchDeployment,
    mini_batch_size: int | None,
    instance_count: int | None,
    overrides: dict[str, Any],
    engine: str | None,
) -> tuple[BatchSettings, int, Engine]:
    """The deployment's settings, instance count and engine with the invocation's flags and
    `--set` pairs on top; a BadRequest naming the first problem."""
    data = spec.tuning.model_dump(mode="json")
    instances: Any = spec.instance_count
    chosen = engine or spec.engine
    rest: dict[str, Any] = {}
    for key, value in overrides.items():
        bare = key.removeprefix("settings.")
        if bare in ("instance_count", "resources.instance_count"):
            instances = value
        elif bare in ("engine", "properties.engine"):
            chosen = str(value)
        else:
            rest[bare] = value
    if mini_batch_size is not None:
        rest["mini_batch_size"] = mini_batch_size
    try:
        settings = BatchSettings.model_validate(apply_overrides(data, rest))
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
    if chosen not in ENGINES:
        raise BadRequest(f"engine {chosen!r} is not one of {', '.join(ENGINES)}")
    return settings, instances, chosen


def make_plan(
    spec: BatchDeployment,
    *,
    job_dir: Path,
    output_path: str | None,
    source: ResolvedInput,
    model: tuple[Path | None, bool],
    settings: BatchSettings,
    instances: int,
    engine: Engine,
    runtime: WorkerRuntime,
) -> JobPlan:
    """The plan of a job of `spec` with what invoke decided; `model` is the local model and
    whether it is an MLflow model. A BadRequest for a script or output path that cannot be."""
    model_path, model_is_mlflow = model
    app_root, entry_script = scoring_entry(spec, model_is_mlflow)
    if output_path is not None and not Path(output_path).is_absolute():
        raise BadRequest(f"--output-path {output_path!r} must be absolute")
    output_dir = Path(output_path) if output_path else job_dir / "outputs"
    environment = dict(settings.environment_variables)
    environment["AZUREML_BI_OUTPUT_PATH"] = str(output_dir)
    environment["AZUREML_LOG_LEVEL"] = settings.logging_level
    reference = spec.environment if isinstance(spec.environment, str) else None
    inline = spec.environment if not isinstance(spec.environment, str) else None
    return JobPlan(
        input=InputPlan(
            source=source.source,
            # A URL's file has no path until the job downloads it.
            path=str(source.path) if source.url is None else None,
            type=source.type,
            url=source.url,
        ),
        output_dir=output_dir,
        output_file=output_dir / settings.output_file_name,
        settings=settings,
        instance_count=instances,
        slots=instances * settings.max_concurrency_per_instance,
        engine=engine,
        script=ScriptPlan(
            app_root=app_root,
            entry_script=entry_script,
            model_path=model_path,
            environment=environment,
            runtime=runtime,
            builtin_mlflow=spec.code_configuration is None,
            conda_file=inline.conda_file if inline else None,
            environment_ref=reference,
        ),
        job_dir=job_dir,
    )
