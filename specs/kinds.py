"""Which spec a YAML document is: from `$schema`, the command that reads it, or its keys."""

from __future__ import annotations

from typing import Any, Literal

from epdev.specs.base import SpecModel
from epdev.specs.deployment import OnlineDeployment
from epdev.specs.endpoint import OnlineEndpoint

SpecKind = Literal["online-endpoint", "online-deployment"]

MODELS: dict[SpecKind, type[SpecModel]] = {
    "online-endpoint": OnlineEndpoint,
    "online-deployment": OnlineDeployment,
}

# Azure's schema file names, lower-cased, mapped to our kinds.
_SCHEMAS: dict[str, SpecKind] = {
    "managedonlineendpoint": "online-endpoint",
    "kubernetesonlineendpoint": "online-endpoint",
    "managedonlinedeployment": "online-deployment",
    "kubernetesonlinedeployment": "online-deployment",
}


def kind_from_schema(schema: str) -> SpecKind | None:
    name = schema.rstrip("/").rsplit("/", 1)[-1].lower()
    name = name.removesuffix(".json").removesuffix(".schema")
    return _SCHEMAS.get(name)


def known_schema_name(schema: str) -> str:
    return schema.rstrip("/").rsplit("/", 1)[-1]


def guess_kind(data: dict[str, Any]) -> SpecKind | None:
    """The kind a document without `$schema` most likely is, or None."""
    schema = data.get("$schema")
    if isinstance(schema, str):
        return kind_from_schema(schema)
    deployment_keys = {"endpoint_name", "model", "code_configuration", "instance_count"}
    if deployment_keys & data.keys():
        return "online-deployment"
    if {"auth_mode", "traffic", "mirror_traffic"} & data.keys():
        return "online-endpoint"
    return None
