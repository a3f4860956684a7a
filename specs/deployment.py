"""The managed online deployment spec (`managedOnlineDeployment` schema)."""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from epdev.specs.base import ResourceName, SpecModel
from epdev.specs.paths import SpecPath


class CodeConfiguration(SpecModel):
    code: SpecPath
    scoring_script: str

    @model_validator(mode="after")
    def _check_script(self, info: ValidationInfo) -> CodeConfiguration:
        context = info.context if isinstance(info.context, dict) else {}
        if context.get("check_files", True):
            check_scoring_script(self.script_path, ("init", "run"))
        return self

    @property
    def script_path(self) -> Path:
        return self.code / self.scoring_script


def check_scoring_script(script: Path, required: tuple[str, ...]) -> None:
    """Fail early, without running it, when a scoring script cannot work."""
    if not script.is_file():
        raise ValueError(f"scoring script {script} does not exist")
    try:
        tree = ast.parse(script.read_bytes(), filename=str(script))
    except SyntaxError as exc:
        raise ValueError(f"scoring script {script} has a syntax error on line {exc.lineno}: {exc.msg}")
    defined = {
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    }
    # Assignments such as `run = make_runner()` also define the name.
    for node in tree.body:
        if isinstance(node, ast.Assign):
            defined.update(t.id for t in node.targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.ImportFrom):
            defined.update(alias.asname or alias.name for alias in node.names)
    missing = [name for name in required if name not in defined]
    if missing:
        names = " and ".join(f"{name}()" for name in missing)
        raise ValueError(f"scoring script {script} does not define {names}")


class ModelRef(SpecModel):
    """An inline model: a local file or folder, optionally named and versioned."""

    schema_: str | None = Field(default=None, alias="$schema")
    name: str | None = None
    version: str | None = None
    path: SpecPath | None = None
    type: Literal["custom_model", "mlflow_model", "triton_model"] = "custom_model"
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, Any] = Field(default_factory=dict)
    # Cloud-only.
    stage: str | None = None
    job_name: str | None = None
    datastore: str | None = None

    cloud_only_fields: ClassVar[frozenset[str]] = frozenset({"stage", "job_name", "datastore"})

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value


class BuildContext(SpecModel):
    path: SpecPath
    dockerfile_path: str = "Dockerfile"


class Environment(SpecModel):
    schema_: str | None = Field(default=None, alias="$schema")
    name: str | None = None
    version: str | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, Any] = Field(default_factory=dict)
    image: str | None = None
    conda_file: SpecPath | None = None
    build: BuildContext | None = None
    os_type: Literal["linux", "windows"] = "linux"
    inference_config: dict[str, Any] | None = None
    # Cloud-only.
    datastore: str | None = None

    cloud_only_fields: ClassVar[frozenset[str]] = frozenset({"datastore"})

    @field_validator("version", mode="before")
    @classmethod
    def _version_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int | float) else value

    @model_validator(mode="after")
    def _image_or_build(self) -> Environment:
        if self.image and self.build:
            raise ValueError("give either image (with an optional conda_file) or build, not both")
        return self


class RequestSettings(SpecModel):
    request_timeout_ms: int = Field(default=5000, ge=1, le=180_000)
    max_concurrent_requests_per_instance: int = Field(default=1, ge=1)
    max_queue_wait_ms: int = Field(default=500, ge=0)


class Probe(SpecModel):
    initial_delay: int = Field(default=10, ge=0)
    period: int = Field(default=10, ge=1)
    timeout: int = Field(default=2, ge=1)
    success_threshold: int = Field(default=1, ge=1)
    failure_threshold: int = Field(default=30, ge=1)

    @property
    def budget_seconds(self) -> float:
        """How long an instance may take to pass this probe before it counts as failed."""
        return float(self.initial_delay + self.period * self.failure_threshold)


class ScaleSettings(SpecModel):
    type: Literal["default", "target_utilization"] = "default"
    min_instances: int | None = Field(default=None, ge=0)
    max_instances: int | None = Field(default=None, ge=1)
    polling_interval: int | None = Field(default=None, ge=1)
    target_utilization_percentage: int | None = Field(default=None, ge=1, le=100)
    scale_up_delay: int | None = Field(default=None, ge=0)
    scale_down_delay: int | None = Field(default=None, ge=0)


class OnlineDeployment(SpecModel):
    schema_: str | None = Field(default=None, alias="$schema")
    name: ResourceName
    endpoint_name: ResourceName | None = None
    description: str | None = None
    tags: dict[str, str] = Field(default_factory=dict)
    properties: dict[str, Any] = Field(default_factory=dict)
    type: Literal["managed", "kubernetes"] = "managed"
    model: str | ModelRef | None = None
    model_mount_path: str | None = None
    code_configuration: CodeConfiguration | None = None
    environment: str | Environment | None = None
    environment_variables: dict[str, str] = Field(default_factory=dict)
    instance_count: int = Field(default=1, ge=1)
    request_settings: RequestSettings = Field(default_factory=RequestSettings)
    liveness_probe: Probe = Field(default_factory=Probe)
    readiness_probe: Probe = Field(default_factory=Probe)
    scale_settings: ScaleSettings = Field(default_factory=ScaleSettings)
    # Cloud-only.
    instance_type: str | None = None
    app_insights_enabled: bool | None = None
    egress_public_network_access: Literal["enabled", "disabled"] | None = None
    data_collector: dict[str, Any] | None = None
    private_network_connection: bool | None = None
    with_package: bool | None = None
    resources: dict[str, Any] | None = None

    cloud_only_fields: ClassVar[frozenset[str]] = frozenset(
        {
            "instance_type",
            "app_insights_enabled",
            "egress_public_network_access",
            "data_collector",
            "private_network_connection",
            "with_package",
            "resources",
        }
    )

    @field_validator("environment_variables", mode="before")
    @classmethod
    def _env_values_as_text(cls, value: Any) -> Any:
        # YAML reads `THREADS: 4` as an int; the process environment only holds text.
        if isinstance(value, dict):
            return {
                k: ("true" if v is True else "false" if v is False else str(v))
                if isinstance(v, int | float | bool)
                else v
                for k, v in value.items()
            }
        return value

    @model_validator(mode="after")
    def _model_or_code(self) -> OnlineDeployment:
        if self.code_configuration is None and not self.is_mlflow:
            raise ValueError(
                "code_configuration (code and scoring_script) is required unless the model is an "
                "MLflow model"
            )
        return self

    @property
    def model_path(self) -> Path | None:
        return self.model.path if isinstance(self.model, ModelRef) else None

    @property
    def is_mlflow(self) -> bool:
        if isinstance(self.model, ModelRef):
            if self.model.type == "mlflow_model":
                return True
            return self.model.path is not None and (self.model.path / "MLmodel").is_file()
        return False
