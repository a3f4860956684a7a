"""The managed online deployment spec (`managedOnlineDeployment` schema)."""

from __future__ import annotations

import ast
import re
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    Discriminator,
    Field,
    Tag,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from epdev.specs.adaptive_batching import AdaptiveBatching
from epdev.specs.base import (
    MAPPING_TAG,
    TEXT_TAG,
    Integer,
    ResourceName,
    ScalarText,
    SpecModel,
    text_or_mapping,
)
from epdev.specs.limits import Description, EnvironmentVariables, Properties, Tags
from epdev.specs.paths import SpecPath


def _checks_files(info: ValidationInfo) -> bool:
    context = info.context if isinstance(info.context, dict) else {}
    return bool(context.get("check_files", True))


class CodeConfiguration(SpecModel):
    code: SpecPath
    scoring_script: str

    @field_validator("scoring_script")
    @classmethod
    def _check_script(cls, value: str, info: ValidationInfo) -> str:
        # The cloud uploads the code folder and looks for the script in it: a script elsewhere
        # would work here and fail there.
        relative = PurePosixPath(value.replace("\\", "/"))
        if not value or relative.is_absolute() or PureWindowsPath(value).drive:
            raise ValueError(
                f"{value!r} must be a path relative to the code folder, such as score.py"
            )
        if ".." in relative.parts:
            raise ValueError(f"{value!r} is outside the code folder; put the script in it")
        code = info.data.get("code")  # absent when `code` itself failed validation
        if code is not None and _checks_files(info):
            check_scoring_script(code / value, ("init", "run"))
        return value

    @property
    def script_path(self) -> Path:
        return self.code / self.scoring_script


def check_scoring_script(script: Path, required: tuple[str, ...]) -> None:
    """Fail early, without running it, when a scoring script cannot work."""
    if not script.is_file():
        raise ValueError(f"scoring script {script} does not exist")
    try:
        source = script.read_bytes()
    except OSError as exc:  # pydantic only turns ValueError into a located error
        raise ValueError(f"scoring script {script} cannot be read: {exc.strerror}") from None
    try:
        tree = ast.parse(source, filename=str(script))
    except SyntaxError as exc:
        raise ValueError(
            f"scoring script {script} has a syntax error on line {exc.lineno}: {exc.msg}"
        ) from None
    except ValueError as exc:  # null bytes, on Python 3.11
        raise ValueError(f"scoring script {script} cannot be parsed: {exc}") from None
    defined, star_import = _module_names(tree.body)
    if star_import:
        return  # `from helpers import *` may define anything
    missing = [name for name in required if name not in defined]
    if missing:
        names = " and ".join(f"{name}()" for name in missing)
        raise ValueError(f"scoring script {script} does not define {names}")


def _module_names(body: list[ast.stmt]) -> tuple[set[str], bool]:
    """Names a module defines at top level (inside if/try/with blocks too), and whether it has a
    star import."""
    names: set[str] = set()
    star = False
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(_target_names(target))
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            names.update(_target_names(node.target))
        elif isinstance(node, ast.Import):
            names.update(alias.asname or alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    star = True
                else:
                    names.add(alias.asname or alias.name)
        else:
            blocks: list[list[ast.stmt]] = []
            if isinstance(node, ast.If | ast.For | ast.AsyncFor | ast.While):
                blocks = [node.body, node.orelse]
            elif isinstance(node, ast.With | ast.AsyncWith):
                blocks = [node.body]
            elif isinstance(node, ast.Try | ast.TryStar):
                blocks = [node.body, node.orelse, node.finalbody]
                blocks.extend(handler.body for handler in node.handlers)
            for block in blocks:
                found, block_star = _module_names(block)
                names |= found
                star = star or block_star
    return names, star


def _target_names(target: ast.expr) -> set[str]:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, ast.Tuple | ast.List):
        return {name for item in target.elts for name in _target_names(item)}
    if isinstance(target, ast.Starred):
        return _target_names(target.value)
    return set()


MODEL_URI_PREFIX = "models:/"
_MODEL_URI = re.compile(r"^models:/([^/@]+)(?:/([^/@]+)|@([^/@]+))$")
URI_TAG = "uri"
PATH_TAG = "path"


def _check_model_uri(value: str) -> str:
    if not _MODEL_URI.fullmatch(value):
        raise ValueError(
            f"{value!r} is not an MLflow registry URI: write models:/<name>/<version> or "
            "models:/<name>@<alias>"
        )
    return value


def _uri_or_path(value: Any) -> str:
    return URI_TAG if isinstance(value, str) and value.startswith(MODEL_URI_PREFIX) else PATH_TAG


ModelUri = Annotated[str, AfterValidator(_check_model_uri)]
"""An MLflow model registry URI, resolved against MLFLOW_TRACKING_URI when the model starts."""

ModelPath = Annotated[
    Annotated[ModelUri, Tag(URI_TAG)] | Annotated[SpecPath, Tag(PATH_TAG)],
    Discriminator(_uri_or_path),
    # One string either way; a oneOf of the two branches would match both.
    WithJsonSchema({"type": "string", "format": "path"}, mode="validation"),
]
"""`model.path`: a local file or folder, or an MLflow registry URI (models:/name/version)."""


class ModelRef(SpecModel):
    """An inline model: a local file or folder (or an MLflow registry URI), optionally named
    and versioned."""

    schema_: str | None = Field(default=None, alias="$schema", title="$schema")
    name: str | None = None
    version: ScalarText | None = None
    path: ModelPath | None = None
    type: Literal["custom_model", "mlflow_model", "triton_model"] = "custom_model"
    description: Description | None = None
    tags: Tags = Field(default_factory=dict)
    properties: Properties = Field(default_factory=dict)
    # Cloud-only.
    stage: str | None = None
    job_name: str | None = None
    datastore: str | None = None

    cloud_only_fields: ClassVar[frozenset[str]] = frozenset({"stage", "job_name", "datastore"})

    @property
    def local_path(self) -> Path | None:
        """The local model file or folder, if the model is given by path."""
        return self.path if isinstance(self.path, Path) else None

    @property
    def registry_uri(self) -> str | None:
        """The MLflow registry URI (models:/name/version or models:/name@alias), if given."""
        return self.path if isinstance(self.path, str) else None

    @field_validator("path", mode="before")
    @classmethod
    def _not_a_reference(cls, value: Any) -> Any:
        # Azure takes registered models as `model: azureml:N:V`, never as a path; without this
        # the reference would be reported as a missing local file.
        if isinstance(value, str) and value.startswith("azureml:") and "://" not in value:
            raise ValueError(
                f"{value!r} is a registered model reference, not a path: write it as "
                f"`model: {value}`"
            )
        return value


class BuildContext(SpecModel):
    path: SpecPath
    dockerfile_path: str = "Dockerfile"


class Environment(SpecModel):
    schema_: str | None = Field(default=None, alias="$schema", title="$schema")
    name: str | None = None
    version: ScalarText | None = None
    description: Description | None = None
    tags: Tags = Field(default_factory=dict)
    properties: Properties = Field(default_factory=dict)
    image: str | None = None
    conda_file: SpecPath | None = None
    build: BuildContext | None = None
    os_type: Literal["linux", "windows"] = "linux"
    inference_config: dict[str, Any] | None = None
    # Cloud-only.
    datastore: str | None = None

    cloud_only_fields: ClassVar[frozenset[str]] = frozenset({"datastore"})

    @field_validator("build")
    @classmethod
    def _image_or_build(
        cls, value: BuildContext | None, info: ValidationInfo
    ) -> BuildContext | None:
        if value is not None and info.data.get("image"):
            raise ValueError("give either image (with an optional conda_file) or build, not both")
        return value


ModelSpec = Annotated[
    Annotated[str, Tag(TEXT_TAG)] | Annotated[ModelRef, Tag(MAPPING_TAG)],
    Discriminator(
        text_or_mapping,
        custom_error_type="model_shape",
        custom_error_message=(
            "should be a registered model reference (azureml:name:version) "
            "or a mapping with the model's path"
        ),
    ),
]
"""`model:` is either a reference text or an inline model; only the matching branch validates."""

EnvironmentSpec = Annotated[
    Annotated[str, Tag(TEXT_TAG)] | Annotated[Environment, Tag(MAPPING_TAG)],
    Discriminator(
        text_or_mapping,
        custom_error_type="environment_shape",
        custom_error_message=(
            "should be a registered environment reference (azureml:name:version) "
            "or a mapping with image, conda_file or build"
        ),
    ),
]
"""`environment:` is either a reference text or an inline environment."""


class RequestSettings(SpecModel):
    request_timeout_ms: Integer = Field(default=5000, ge=1, le=180_000)
    max_concurrent_requests_per_instance: Integer = Field(default=1, ge=1)
    max_queue_wait_ms: Integer = Field(default=500, ge=0)


class Probe(SpecModel):
    initial_delay: Integer = Field(default=10, ge=0)
    period: Integer = Field(default=10, ge=1)
    timeout: Integer = Field(default=2, ge=1)
    success_threshold: Integer = Field(default=1, ge=1)
    failure_threshold: Integer = Field(default=30, ge=1)

    @property
    def budget_seconds(self) -> float:
        """How long an instance that never answers lasts before this probe gives up on it: the
        initial delay, then `failure_threshold` probes, each a period apart or its timeout long."""
        return float(self.initial_delay + max(self.period, self.timeout) * self.failure_threshold)


class ScaleSettings(SpecModel):
    type: Literal["default", "target_utilization"] = "default"
    min_instances: Integer | None = Field(default=None, ge=0)
    max_instances: Integer | None = Field(default=None, ge=1)
    polling_interval: Integer | None = Field(default=None, ge=1)
    target_utilization_percentage: Integer | None = Field(default=None, ge=1, le=100)
    scale_up_delay: Integer | None = Field(default=None, ge=0)
    scale_down_delay: Integer | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _min_within_max(self) -> ScaleSettings:
        low, high = self.min_instances, self.max_instances
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_instances ({low}) is greater than max_instances ({high})")
        return self


class OnlineDeployment(SpecModel):
    schema_: str | None = Field(default=None, alias="$schema", title="$schema")
    name: ResourceName
    endpoint_name: ResourceName | None = None
    description: Description | None = None
    tags: Tags = Field(default_factory=dict)
    properties: Properties = Field(default_factory=dict)
    type: Literal["managed", "kubernetes"] = "managed"
    model: ModelSpec | None = None
    model_mount_path: str | None = None
    # Validated even when absent: it is required unless the model is an MLflow model.
    code_configuration: CodeConfiguration | None = Field(default=None, validate_default=True)
    environment: EnvironmentSpec | None = None
    # YAML numbers and booleans become text: the process environment only holds text.
    environment_variables: EnvironmentVariables = Field(default_factory=dict)
    instance_count: Integer = Field(default=1, ge=1)
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

    @field_validator("code_configuration")
    @classmethod
    def _code_unless_mlflow(
        cls, value: CodeConfiguration | None, info: ValidationInfo
    ) -> CodeConfiguration | None:
        return code_unless_mlflow(value, info)

    @field_validator("environment_variables")
    @classmethod
    def _check_batching(cls, value: dict[str, str]) -> dict[str, str]:
        AdaptiveBatching.from_variables(value)  # raises ValueError naming the variable
        return value

    @property
    def batching(self) -> AdaptiveBatching:
        """Adaptive batching for an MLflow model (never for a scoring script)."""
        settings = AdaptiveBatching.from_variables(self.environment_variables)
        return settings if self.is_mlflow else AdaptiveBatching(enabled=False)

    @property
    def concurrent_requests_per_instance(self) -> int:
        """max_concurrent_requests_per_instance, whose default for a batching MLflow model is
        its max_batch_size: with one request at a time there would be nothing to merge."""
        settings = self.request_settings
        batching = self.batching
        if batching.enabled and "max_concurrent_requests_per_instance" not in (
            settings.model_fields_set
        ):
            return batching.max_batch_size
        return settings.max_concurrent_requests_per_instance

    @property
    def start_budget_seconds(self) -> float:
        """How long a new instance may take to finish init(). As on Kubernetes, a starting
        instance that does not answer is restarted only once its liveness probe gives up, while
        readiness merely keeps it out of the pool: the longer of the two budgets."""
        return max(self.liveness_probe.budget_seconds, self.readiness_probe.budget_seconds)

    @property
    def model_path(self) -> Path | None:
        return self.model.local_path if isinstance(self.model, ModelRef) else None

    @property
    def model_uri(self) -> str | None:
        return self.model.registry_uri if isinstance(self.model, ModelRef) else None

    @property
    def is_mlflow(self) -> bool:
        """Served as an MLflow model: a path or URI that is one, or a registered model with no
        code_configuration (the devserver refuses one that is not of MLflow type)."""
        registered = isinstance(self.model, str) and self.code_configuration is None
        return registered or is_mlflow_model(self.model)


def code_unless_mlflow(
    value: CodeConfiguration | None, info: ValidationInfo
) -> CodeConfiguration | None:
    """code_configuration is required unless the model is an MLflow model (online and batch)."""
    model = info.data.get("model")
    # A registered model's type is known only once the devserver resolves it.
    if (
        value is None
        and "model" in info.data
        and not isinstance(model, str)
        and not is_mlflow_model(model)
    ):
        raise ValueError(
            "code_configuration (code and scoring_script) is required unless the model is "
            "an MLflow model"
        )
    return value


def is_mlflow_model(model: str | ModelRef | None) -> bool:
    """An MLflow model: declared as one, a registry URI, or a folder holding `MLmodel`."""
    if isinstance(model, ModelRef):
        if model.type == "mlflow_model" or isinstance(model.path, str):
            return True
        return model.path is not None and (model.path / "MLmodel").is_file()
    return False
