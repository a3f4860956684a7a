"""The base of every view (it serialises exactly the keys it was given), the small types views
share, the pieces online and batch views both answer, and the server's own answers."""

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


# Shared by online and batch views


class EndpointFields(View):
    """What online and batch endpoints both answer."""

    name: str
    description: str | None
    tags: dict[str, str]
    properties: dict[str, str]
    auth_mode: str


class DeploymentFields(View):
    """What online and batch deployments both answer first."""

    name: str
    endpoint_name: str
    description: str | None = None
    tags: dict[str, str]
    properties: dict[str, str]
    type: str


class CodeConfiguration(View):
    code: str
    scoring_script: str
