"""What the control plane's REST API answers: one pydantic view per resource, shared by the
routes (as their response models, so the OpenAPI document shows them) and the clients.

The routes still build their answers as plain data; the views check that data and describe it,
and never reshape it. A view serialises exactly the keys it was given, in the order it was given
them, so a key left out stays out, a None stays null, and the JSON the CLI and scripts read is
the same as before the views existed. Extra keys are kept (`extra="allow"`), so a field added to
an answer before its view reaches the wire rather than failing the request. Imports only
pydantic, so a client can read the views without loading the server. Over 450 lines only
because the API answers some 35 shapes, each a flat list of fields.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    PrivateAttr,
    SerializerFunctionWrapHandler,
    WithJsonSchema,
    model_serializer,
    model_validator,
)

Number = Annotated[int | float, WithJsonSchema({"type": "number"})]
"""A figure that may be whole or not: kept as given, so 3 stays 3 and never becomes 3.0."""
Timestamp = Annotated[str, Field(description="UTC, ISO 8601")]
Split = dict[str, int]
"""Deployment names to whole percents."""


class View(BaseModel):
    """Base of every view: serialises the keys it was validated from, in their order."""

    model_config = ConfigDict(extra="allow")

    _given: tuple[str, ...] | None = PrivateAttr(default=None)

    @model_validator(mode="wrap")
    @classmethod
    def _remember_keys(cls, data: Any, handler: ModelWrapValidatorHandler[Self]) -> Self:
        view = handler(data)
        if isinstance(data, dict):
            view._given = tuple(data)
        return view

    # No return annotation: pydantic would take it as the serialised schema and hide the fields.
    @model_serializer(mode="wrap")
    def _as_given(self, handler: SerializerFunctionWrapHandler):  # type: ignore[no-untyped-def]
        data = handler(self)
        if self._given is None or not isinstance(data, dict):
            return data
        return {key: data[key] for key in self._given if key in data}


# Server


class Health(View):
    status: Literal["ok"]
    version: str


class Validity(View):
    valid: bool


# Figures shown with endpoints and deployments, and the metrics series


class InstanceFigures(View):
    name: str
    state: str
    pids: list[int]
    cpu_percent: Number | None
    memory_bytes: int
    cpu_seconds: Number
    restarts: int


class CallFigures(View):
    """Calls, latency and resources over a window (the whole window, or the last seconds)."""

    requests: int
    rps: Number
    status_classes: dict[str, int] = Field(description="Calls per status class (2xx, 4xx...)")
    error_rate: Number | None
    p50_ms: Number | None
    p90_ms: Number | None
    p99_ms: Number | None
    mean_ms: Number | None
    in_flight: int
    cpu_percent: Number | None
    memory_bytes: int
    restarts: int
    instances: list[InstanceFigures] | None = Field(
        default=None, description="Per instance; deployments only"
    )


class CurrentFigures(CallFigures):
    window_seconds: int


class EndpointCost(View):
    currency: str
    estimated_per_hour: Number | None
    estimated_to_date: Number | None
    instance_hours: Number | None
    core_seconds: Number | None
    gib_hours: Number | None


class DeploymentCost(View):
    instance_type: str | None
    instance_count: int
    currency: str
    rate_per_instance_hour: Number | None
    estimated_per_hour: Number | None
    estimated_to_date: Number | None
    instance_hours: Number | None
    core_seconds: Number | None
    gib_hours: Number | None
    rates_source: str
    note: str | None = Field(default=None, description="Why no rate applies")
    rates_error: str | None = Field(default=None, description="Why the rate card was not read")


class Series(View):
    """One value per step (null where the step saw nothing)."""

    rps: list[Number]
    error_rate: list[Number | None]
    p50_ms: list[Number | None]
    p99_ms: list[Number | None]
    cpu_percent: list[Number | None]
    memory_bytes: list[int | None]


class MetricsBlock(View):
    summary: CallFigures
    series: Series


class MetricsWindow(View):
    endpoint: str
    window_seconds: int
    step_seconds: int
    start: Timestamp
    end: Timestamp
    timestamps: list[int] = Field(description="Each step's start, in Unix seconds")


class EndpointMetrics(MetricsWindow):
    total: MetricsBlock
    deployments: dict[str, MetricsBlock]


class DeploymentMetrics(MetricsWindow):
    deployment: str
    summary: CallFigures
    series: Series


# Online endpoints and deployments


class _EndpointFields(View):
    """What online and batch endpoints both answer."""

    name: str
    description: str | None
    tags: dict[str, str]
    properties: dict[str, str]
    auth_mode: str


class EndpointView(_EndpointFields):
    kind: str
    local: bool
    provisioning_state: str
    scoring_uri: str
    openapi_uri: str
    traffic: Split
    mirror_traffic: Split
    deployments: list[str]
    source: str | None = Field(description="The YAML file it was created from")
    created_at: Timestamp
    updated_at: Timestamp
    cloud_only: list[str] = Field(description="Cloud-only fields the spec sets (not applied)")
    metrics: CurrentFigures | None = Field(
        description="The last seconds; null when metrics are off"
    )
    cost: EndpointCost


class InstanceHealth(View):
    name: str
    state: str
    restarts: int
    last_error: str | None
    pid: int | None


class DeploymentHealth(View):
    state: str
    last_error: str | None
    instances: list[InstanceHealth]


class CodeConfiguration(View):
    code: str
    scoring_script: str


class DeploymentView(View):
    """The deployment's spec as stored (keys that are null there left out), then its state."""

    name: str
    endpoint_name: str
    description: str | None = None
    tags: dict[str, str]
    properties: dict[str, str]
    type: str
    model: str | dict[str, Any] | None = Field(
        default=None, description="A path, an azureml: reference, or a model spec"
    )
    model_mount_path: str | None = None
    code_configuration: CodeConfiguration | None = None
    environment: str | dict[str, Any] | None = Field(
        default=None, description="An azureml: reference or an environment spec"
    )
    environment_variables: dict[str, str]
    instance_count: int
    request_settings: dict[str, int]
    liveness_probe: dict[str, int]
    readiness_probe: dict[str, int]
    scale_settings: dict[str, Any]
    instance_type: str | None = Field(default=None, description="Cloud-only: kept, priced")
    provisioning_state: str
    error: str | None
    runtime: str
    watch: bool = Field(description="Restarts its instances when the code changes")
    ready_instances: int
    health: DeploymentHealth
    source: str | None
    created_at: Timestamp
    updated_at: Timestamp
    cloud_only: list[str]
    metrics: CurrentFigures | None
    cost: DeploymentCost


class EndpointKeys(View):
    """The keys of an endpoint with `auth_mode: key`."""

    primaryKey: str  # Azure's spelling
    secondaryKey: str


class EndpointToken(View):
    """A fresh token for an endpoint with a token auth mode, as Azure's get-credentials."""

    accessToken: str  # Azure's spelling
    tokenType: str
    expiryTimeUtc: Timestamp
    refreshAfterTimeUtc: Timestamp


Credentials = EndpointKeys | EndpointToken


class MirrorAnswer(View):
    deployment: str
    status: int
    body: str = Field(description="The start of the body")


class MirrorExample(View):
    request_id: str | None
    live: MirrorAnswer
    mirror: MirrorAnswer


class MirrorReport(View):
    endpoint: str
    mirror_traffic: Split
    sent: int
    compared: int
    failed: int
    skipped_busy: int
    status_differs: int
    body_differs: int
    status_differs_rate: Number
    body_differs_rate: Number
    sent_to: dict[str, int]
    examples: list[MirrorExample]


# Logs


class LogMatch(BaseModel):
    offset: int = Field(
        description="Bytes into the log's files (oldest first) where the line starts"
    )
    text: str
    context: list[str] = Field(default_factory=list, description="The lines after it, if asked")


class LogSearchPage(BaseModel):
    """A page of a search over a whole log, its rotated files included."""

    matches: list[LogMatch]
    next_offset: int | None = Field(description="Ask again from here for more; null at the end")
    total_bytes: int


class JobLog(View):
    text: str
    next_offset: int = Field(description="The offset to read on from")


# Batch endpoints, deployments and jobs


class BatchDefaults(View):
    deployment_name: str | None


class BatchEndpointView(_EndpointFields):
    defaults: BatchDefaults
    deployments: list[str]
    provisioning_state: str
    scoring_uri: str = Field(description="Where jobs are started")
    source: str | None
    created_at: Timestamp
    updated_at: Timestamp
    cloud_only: list[str]


class BatchSettingsView(View):
    mini_batch_size: int
    max_concurrency_per_instance: int
    error_threshold: int
    retry_settings: dict[str, int]
    output_action: str
    output_file_name: str
    logging_level: str
    environment_variables: dict[str, str]


class BatchDeploymentView(View):
    """The deployment's spec as stored (null keys left out, tuning under settings), then its
    state."""

    name: str
    endpoint_name: str
    description: str | None = None
    tags: dict[str, str]
    properties: dict[str, str]
    type: str
    model: str | dict[str, Any] | None = None
    code_configuration: CodeConfiguration | None = None
    environment: str | dict[str, Any] | None = None
    resources: dict[str, Any]
    compute: str | None = Field(default=None, description="Cloud-only: kept, not applied")
    settings: BatchSettingsView
    engine: str
    runtime: str
    runtime_notes: list[str] | None = Field(
        default=None, description="Why that runtime (on the create or update that chose it)"
    )
    is_default: bool
    provisioning_state: str
    source: str | None
    created_at: Timestamp
    updated_at: Timestamp
    cloud_only: list[str]


class JobProgress(View):
    items_total: int
    items_done: int
    items_failed: int
    rows_written: int
    minibatches_total: int
    minibatches_done: int
    elapsed_seconds: Number
    items_per_second: Number
    eta_seconds: Number | None


class JobOutputs(View):
    path: str | None
    file: str | None


class JobTimes(View):
    created_at: Timestamp
    started_at: Timestamp | None
    ended_at: Timestamp | None


class JobView(View):
    name: str
    type: str
    status: str
    endpoint_name: str
    deployment_name: str
    error: str | None
    progress: JobProgress
    inputs: dict[str, Any]
    outputs: JobOutputs
    settings: dict[str, Any]
    engine: str
    job_folder: str | None
    creation_context: JobTimes


# Registries


class AssetView(View):
    """A registered data or model version."""

    name: str
    version: str
    type: str
    path: str
    description: str | None
    tags: dict[str, Any]
    properties: dict[str, Any]
    id: str = Field(description="Its azureml:NAME:VERSION reference")
    created_at: Timestamp


class EnvironmentBuild(View):
    path: str
    dockerfile_path: str


class EnvironmentView(View):
    """A registered environment version (keys that would be null are left out)."""

    name: str
    version: str
    id: str = Field(description="Its azureml:NAME:VERSION reference")
    description: str | None = None
    tags: dict[str, str]
    image: str | None = None
    conda_file: str | None = None
    build: EnvironmentBuild | None = None
    os_type: str
    archived: bool
    created_at: Timestamp
