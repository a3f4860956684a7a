"""Which spec a YAML document is: from `$schema`, the command that reads it, or its keys."""

from __future__ import annotations

from typing import Any, Literal

from epdev.specs.base import PIPELINE_DEPLOYMENT, SpecModel
from epdev.specs.batch import BatchDeployment, BatchEndpoint
from epdev.specs.deployment import OnlineDeployment
from epdev.specs.endpoint import OnlineEndpoint

SpecKind = Literal["online-endpoint", "online-deployment", "batch-endpoint", "batch-deployment"]

MODELS: dict[SpecKind, type[SpecModel]] = {
    "online-endpoint": OnlineEndpoint,
    "online-deployment": OnlineDeployment,
    "batch-endpoint": BatchEndpoint,
    "batch-deployment": BatchDeployment,
}

# Azure's schema file names, lower-cased, mapped to our kinds.
_SCHEMAS: dict[str, SpecKind] = {
    "managedonlineendpoint": "online-endpoint",
    "kubernetesonlineendpoint": "online-endpoint",
    "managedonlinedeployment": "online-deployment",
    "kubernetesonlinedeployment": "online-deployment",
    "batchendpoint": "batch-endpoint",
    "batchdeployment": "batch-deployment",
    "modelbatchdeployment": "batch-deployment",
}

# Azure schemas of endpoints and deployments that only the cloud runs: what each is called.
_CLOUD_ONLY_SCHEMAS: dict[str, str] = {
    "pipelinecomponentbatchdeployment": PIPELINE_DEPLOYMENT,
    "serverlessendpoint": "a serverless endpoint",
}

# Keys only a batch deployment has (both its current `settings:` form and the older root form).
_BATCH_DEPLOYMENT_KEYS = frozenset(
    {
        "settings",
        "resources",
        "compute",
        "mini_batch_size",
        "max_concurrency_per_instance",
        "error_threshold",
        "retry_settings",
        "output_action",
        "output_file_name",
        "logging_level",
    }
)


def kind_from_schema(schema: str) -> SpecKind | None:
    name = schema.rstrip("/").rsplit("/", 1)[-1].lower()
    name = name.removesuffix(".json").removesuffix(".schema")
    return _SCHEMAS.get(name)


def cloud_only_schema(schema: str) -> str | None:
    """What a schema that only the cloud runs describes ("a serverless endpoint"), or None."""
    name = schema.rstrip("/").rsplit("/", 1)[-1].lower()
    return _CLOUD_ONLY_SCHEMAS.get(name.removesuffix(".json").removesuffix(".schema"))


def known_schema_name(schema: str) -> str:
    return schema.rstrip("/").rsplit("/", 1)[-1]


def guess_kind(data: dict[str, Any]) -> SpecKind | None:
    """The kind a document without `$schema` most likely is, or None."""
    schema = data.get("$schema")
    if isinstance(schema, str):
        return kind_from_schema(schema)
    if _BATCH_DEPLOYMENT_KEYS & data.keys():
        return "batch-deployment"
    if "defaults" in data:
        return "batch-endpoint"
    deployment_keys = {"endpoint_name", "model", "code_configuration", "instance_count"}
    if deployment_keys & data.keys():
        return "online-deployment"
    if {"auth_mode", "traffic", "mirror_traffic"} & data.keys():
        return "online-endpoint"
    return None
