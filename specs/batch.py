"""The batch endpoint and batch deployment specs (`batchEndpoint`, `batchDeployment` schemas).

A batch deployment's tuning may sit under `settings:` (the current `type: model` form) or at the
root (the older form); `BatchDeployment.tuning` merges both into one `BatchSettings` with
Azure's defaults. Setting one field in both places is an error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from epdev.specs.base import (
    PIPELINE_DEPLOYMENT,
    Integer,
    ResourceName,
    SpecModel,
    not_supported,
)
from epdev.specs.deployment import (
    CodeConfiguration,
    EnvironmentSpec,
    ModelRef,
    ModelSpec,
    code_unless_mlflow,
    is_mlflow_model,
)
from epdev.specs.limits import Description, EnvironmentVariables, Properties, Tags

OutputAction = Literal["append_row", "summary_only"]
LoggingLevel = Literal["debug", "info", "warning", "error", "critical"]
Engine = Literal["local", "dask"]

ENGINE_PROPERTY = "engine"
"""The key of a batch deployment's `properties` that picks its default engine (epdev only;
`properties` is free-form in Azure, so the file stays valid there)."""


class BatchEndpointDefaults(SpecModel):
    deployment_name: str | None = None


class BatchEndpoint(SpecModel):
    schema_: str | None = Field(default=None, alias="$schema", title="$schema")
    name: ResourceName
    description: Description | None = None
    tags: Tags = Field(default_factory=dict)
    properties: Properties = Field(default_factory=dict)
    auth_mode: Literal["aad_token", "key", "aml_token"] = "aad_token"
    defaults: BatchEndpointDefaults = Field(default_factory=BatchEndpointDefaults)
    # Cloud-only.
    identity: dict[str, Any] | None = None
    public_network_access: Literal["enabled", "disabled"] | None = None

    cloud_only_fields: ClassVar[frozenset[str]] = frozenset({"identity", "public_network_access"})

    @field_validator("auth_mode", mode="before")
    @classmethod
    def _lower_auth_mode(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"aadtoken": "aad_token", "amltoken": "aml_token"}.get(
                value.lower(), value.lower()
            )
        return value


class RetrySettings(SpecModel):
    max_retries: Integer = Field(default=3, ge=0)
    timeout: Integer = Field(default=30, ge=1, description="Seconds one mini-batch may take")


class BatchSettings(SpecModel):
    """How a batch deployment runs its jobs, with Azure's defaults."""

    mini_batch_size: Integer = Field(default=10, ge=1)
    max_concurrency_per_instance: Integer = Field(default=1, ge=1)
    error_threshold: Integer = Field(default=-1, ge=-1)
    retry_settings: RetrySettings = Field(default_factory=RetrySettings)
    output_action: OutputAction = "append_row"
    output_file_name: str = "predictions.csv"
    logging_level: LoggingLevel = "info"
    environment_variables: EnvironmentVariables = Field(default_factory=dict)

    @field_validator("output_file_name")
    @classmethod
    def _plain_file_name(cls, value: str) -> str:
        if not value or Path(value).name != value or value in (".", ".."):
            raise ValueError(f"{value!r} must be a plain file name, without folders")
        return value

    @field_validator("output_action", "logging_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value


class BatchResources(SpecModel):
    instance_count: Integer = Field(default=1, ge=1)
    # Cloud-only.
    instance_type: str | None = None
    properties: dict[str, Any] | None = None

    cloud_only_fields: ClassVar[frozenset[str]] = frozenset({"instance_type", "properties"})


# The tuning fields the older form sets at the root of the deployment.
_ROOT_TUNING = tuple(BatchSettings.model_fields)


class BatchDeployment(SpecModel):
    schema_: str | None = Field(default=None, alias="$schema", title="$schema")
    name: ResourceName
    endpoint_name: ResourceName | None = None
    description: Description | None = None
    tags: Tags = Field(default_factory=dict)
    properties: Properties = Field(default_factory=dict)
    type: Literal["model"] = "model"
    model: ModelSpec | None = None
    # Validated even when absent: it is required unless the model is an MLflow model.
    code_configuration: CodeConfiguration | None = Field(default=None, validate_default=True)
    environment: EnvironmentSpec | None = None
    resources: BatchResources = Field(default_factory=BatchResources)
    settings: BatchSettings = Field(default_factory=BatchSettings)
    # The older form's root-level tuning (None: not set here).
    mini_batch_size: Integer | None = Field(default=None, ge=1)
    max_concurrency_per_instance: Integer | None = Field(default=None, ge=1)
    error_threshold: Integer | None = Field(default=None, ge=-1)
    retry_settings: RetrySettings | None = None
    output_action: OutputAction | None = None
    output_file_name: str | None = None
    logging_level: LoggingLevel | None = None
    environment_variables: EnvironmentVariables | None = None
    # Cloud-only.
    compute: str | None = None

    cloud_only_fields: ClassVar[frozenset[str]] = frozenset({"compute"})

    @field_validator("type", mode="before")
    @classmethod
    def _model_type_only(cls, value: Any) -> Any:
        if value == "pipeline":
            raise ValueError(not_supported(PIPELINE_DEPLOYMENT))
        return value

    @field_validator("code_configuration")
    @classmethod
    def _code_unless_mlflow(
        cls, value: CodeConfiguration | None, info: ValidationInfo
    ) -> CodeConfiguration | None:
        return code_unless_mlflow(value, info)

    @field_validator("output_action", "logging_level", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.lower() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _tuning_in_one_place(self) -> BatchDeployment:
        twice = [
            name
            for name in _ROOT_TUNING
            if name in self.model_fields_set and name in self.settings.model_fields_set
        ]
        if twice:
            raise ValueError(
                f"{twice[0]} is set both at the root and under settings:; keep one "
                "(settings: is the current form)"
            )
        if self.output_file_name is not None:
            BatchSettings(output_file_name=self.output_file_name)  # same check as under settings
        if self.engine not in ("local", "dask"):
            raise ValueError(
                f"properties.{ENGINE_PROPERTY} is {self.engine!r}; use 'local' or 'dask'"
            )
        return self

    @property
    def tuning(self) -> BatchSettings:
        """The effective settings: root-level fields (older form) over `settings:`."""
        root = {
            name: getattr(self, name)
            for name in _ROOT_TUNING
            if name in self.model_fields_set and getattr(self, name) is not None
        }
        return self.settings.model_copy(update=root)

    @property
    def instance_count(self) -> int:
        return self.resources.instance_count

    @property
    def engine(self) -> str:
        return str(self.properties.get(ENGINE_PROPERTY, "local"))

    @property
    def model_path(self) -> Path | None:
        return self.model.local_path if isinstance(self.model, ModelRef) else None

    @property
    def model_uri(self) -> str | None:
        return self.model.registry_uri if isinstance(self.model, ModelRef) else None

    @property
    def is_mlflow(self) -> bool:
        return is_mlflow_model(self.model)
