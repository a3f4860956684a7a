"""The managed online endpoint spec (`managedOnlineEndpoint` schema)."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator

from epdev.specs.base import Integer, ResourceName, SpecModel
from epdev.specs.limits import Description, Properties, Tags
from epdev.specs.traffic import check_traffic

AuthMode = Literal["key", "aml_token", "aad_token"]


class OnlineEndpoint(SpecModel):
    schema_: str | None = Field(default=None, alias="$schema", title="$schema")
    name: ResourceName
    description: Description | None = None
    tags: Tags = Field(default_factory=dict)
    properties: Properties = Field(default_factory=dict)
    auth_mode: AuthMode = "key"
    traffic: dict[str, Integer] = Field(default_factory=dict)
    mirror_traffic: dict[str, Integer] = Field(default_factory=dict)
    # Cloud-only.
    identity: dict[str, Any] | None = None
    public_network_access: Literal["enabled", "disabled"] | None = None
    kind: str | None = None
    compute: str | None = None

    cloud_only_fields: ClassVar[frozenset[str]] = frozenset(
        {"identity", "public_network_access", "kind", "compute"}
    )

    @field_validator("auth_mode", mode="before")
    @classmethod
    def _lower_auth_mode(cls, value: Any) -> Any:
        # Azure accepts any casing here ("Key", "AMLToken" style values are normalised).
        if isinstance(value, str):
            return {"amltoken": "aml_token", "aadtoken": "aad_token"}.get(
                value.lower(), value.lower()
            )
        return value

    @field_validator("traffic")
    @classmethod
    def _check_traffic(cls, value: dict[str, int]) -> dict[str, int]:
        check_traffic(value)
        return value

    @field_validator("mirror_traffic")
    @classmethod
    def _check_mirror(cls, value: dict[str, int], info: ValidationInfo) -> dict[str, int]:
        live = info.data.get("traffic") or {}  # absent when `traffic` itself was invalid
        check_traffic(live, value)
        return value
