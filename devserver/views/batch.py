"""Views of batch endpoints, batch deployments and jobs."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from epdev.devserver.views.base import (
    CodeConfiguration,
    DeploymentFields,
    EndpointFields,
    Number,
    Timestamp,
    View,
)


class JobLog(View):
    text: str
    next_offset: int = Field(description="The offset to read on from")


class BatchDefaults(View):
    deployment_name: str | None


class BatchEndpointView(EndpointFields):
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


class BatchDeploymentView(DeploymentFields):
    """The deployment's spec as stored (null keys left out, tuning under settings), then its
    state."""

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
