"""Views of online endpoints and deployments: the resources, their keys and tokens, the mirror's
report, and log search pages."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from epdev.devserver.views.base import (
    CodeConfiguration,
    DeploymentFields,
    EndpointFields,
    Number,
    Split,
    Timestamp,
    View,
)
from epdev.devserver.views.figures import CurrentFigures, DeploymentCost, EndpointCost


class EndpointView(EndpointFields):
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


class DeploymentView(DeploymentFields):
    """The deployment's spec as stored (keys that are null there left out), then its state."""

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
