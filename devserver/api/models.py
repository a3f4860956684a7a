"""Request bodies of the control plane API."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

from epdev.devserver.api.params import TrafficSplit


class SpecBody(BaseModel):
    """A spec as plain data (paths absolute, as the CLI resolves them) and the file it came from."""

    spec: dict[str, Any]
    source: str | None = None


class EndpointCreate(SpecBody):
    local: bool = Field(
        default=False,
        description="As az's `--local` endpoints: calls from this machine need no key",
    )


class DeploymentCreate(SpecBody):
    all_traffic: bool = False
    watch: bool = Field(default=False, description="Restart the instances when the code changes")
    runtime: Literal["auto", "process", "venv", "docker"] | None = Field(
        default=None, description="How the instances run; the devserver's default when absent"
    )


class EndpointUpdate(BaseModel):
    spec: dict[str, Any] | None = None
    source: str | None = None
    traffic: TrafficSplit | None = None
    mirror_traffic: TrafficSplit | None = None


class DeploymentUpdate(BaseModel):
    spec: dict[str, Any] | None = None
    source: str | None = None
    set: dict[str, Any] = Field(
        default_factory=dict, description="`--set key.path=value` overrides"
    )
    only_if_changed: bool = Field(
        default=False, description="Leave the deployment alone when the spec equals the stored one"
    )
    watch: bool | None = Field(default=None, description="Turn code watching on or off")
    runtime: Literal["auto", "process", "venv", "docker"] | None = Field(
        default=None, description="How the instances run; the devserver's default when absent"
    )


class SpecCheck(BaseModel):
    kind: Literal["online-endpoint", "online-deployment", "batch-endpoint", "batch-deployment"]
    spec: dict[str, Any]


class RegenerateKeys(BaseModel):
    key_type: Literal["primary", "secondary"] = Field(alias="keyType")

    model_config = {"populate_by_name": True}
