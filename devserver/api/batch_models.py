"""Request bodies of the batch side of the control plane API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from epdev.devserver.api.params import JobNameField, ResourceNameField
from epdev.devserver.names import ASSET_PATTERN, VERSION_PATTERN


class BatchDeploymentCreate(BaseModel):
    spec: dict[str, Any]
    source: str | None = None
    set_default: bool = Field(default=False, description="Make it the endpoint's default")
    runtime: str | None = Field(
        default=None,
        description="Where job workers run: process or venv (default: the devserver's default)",
    )


class BatchEndpointUpdate(BaseModel):
    spec: dict[str, Any] | None = None
    source: str | None = None
    default_deployment: ResourceNameField | None = Field(
        default=None, description="The deployment that jobs run on when none is named"
    )


class BatchDeploymentUpdate(BaseModel):
    spec: dict[str, Any] | None = None
    source: str | None = None
    set: dict[str, Any] = Field(default_factory=dict, description="`--set key=value` overrides")
    set_default: bool = False
    runtime: str | None = Field(
        default=None,
        description="Where job workers run: process or venv (default: the devserver's default)",
    )


class JobRequest(BaseModel):
    """`batch-endpoint invoke`: the input and anything that overrides the deployment."""

    input: str = Field(description="A path, file:// or http(s):// URL, or azureml:NAME@latest")
    input_type: Literal["uri_folder", "uri_file"] | None = None
    deployment_name: ResourceNameField | None = None
    output_path: str | None = Field(default=None, description="Folder for the output file")
    job_name: JobNameField | None = None
    mini_batch_size: int | None = Field(default=None, ge=1)
    instance_count: int | None = Field(default=None, ge=1)
    engine: Literal["local", "dask"] | None = None
    set: dict[str, Any] = Field(
        default_factory=dict,
        description="Settings overrides, e.g. error_threshold, retry_settings.max_retries",
    )


class AssetCreate(BaseModel):
    name: str = Field(pattern=ASSET_PATTERN)
    version: str | None = Field(default=None, pattern=VERSION_PATTERN)
    path: str
    type: str | None = None
    description: str | None = None
    tags: dict[str, Any] = Field(default_factory=dict)
    properties: dict[str, Any] = Field(default_factory=dict)
