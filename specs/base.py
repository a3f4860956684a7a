"""Shared base for spec models: strict about unknown keys, aware of cloud-only fields."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, WithJsonSchema

# Azure ML's rule for endpoint and deployment names: 3 to 32 characters, a letter first, then
# letters, digits or hyphens, and no hyphen last.
_NAME_PATTERN = re.compile(r"^[a-zA-Z][a-zA-Z0-9-]{1,30}[a-zA-Z0-9]$")


def _check_name(value: str) -> str:
    if not _NAME_PATTERN.fullmatch(value):
        raise ValueError(
            f"{value!r} is not a valid name: use 3 to 32 characters, start with a letter, "
            "then letters, digits or hyphens, and end with a letter or digit"
        )
    return value


ResourceName = Annotated[str, AfterValidator(_check_name)]


def _not_bool(value: Any) -> Any:
    # Pydantic's lax mode reads `true` as 1; Azure's schemas reject booleans for numbers.
    if isinstance(value, bool):
        raise ValueError("Input should be a valid integer, not true or false")
    return value


Integer = Annotated[int, BeforeValidator(_not_bool)]
"""An int field that, unlike pydantic's lax int, refuses YAML booleans."""


def _scalar_as_text(value: Any) -> Any:
    # YAML reads `THREADS: 4` as an int and `DEBUG: true` as a bool; the values are text. az's
    # REST client sends such values as Python's str() of them, so the cloud holds "4" and
    # "True": so do we.
    if isinstance(value, bool | int | float):
        return str(value)
    return value


ScalarText = Annotated[
    str,
    BeforeValidator(_scalar_as_text),
    WithJsonSchema({"type": ["string", "number", "boolean"]}, mode="validation"),
]
"""Text that may be written as a YAML number or boolean (versions, environment variables)."""

PIPELINE_DEPLOYMENT = "a pipeline component batch deployment"


def not_supported(what: str) -> str:
    """The refusal of a cloud-only kind of spec, in the same words everywhere."""
    runs = "model deployments are" if "deployment" in what else "online and batch endpoints are"
    return f"{what}: not supported locally; {runs}"


# Tags of the branches of a "reference or inline mapping" field (`model`, `environment`): the
# data's shape picks the branch, so errors come from that branch only.
TEXT_TAG = "text"
MAPPING_TAG = "mapping"


def text_or_mapping(value: Any) -> str | None:
    """The union branch for `value`: a reference text, an inline mapping, or neither."""
    if isinstance(value, str):
        return TEXT_TAG
    if isinstance(value, dict | BaseModel):
        return MAPPING_TAG
    return None


class SpecModel(BaseModel):
    """Base of every spec model: unknown keys are errors, and `$schema` is accepted."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    # Fields that only mean something in the cloud: accepted and kept, reported once.
    cloud_only_fields: ClassVar[frozenset[str]] = frozenset()

    def cloud_only_in_use(self, prefix: str = "") -> list[str]:
        """Dotted paths of cloud-only fields that this spec sets, nested models included."""
        found = [
            f"{prefix}{name}"
            for name in sorted(self.cloud_only_fields)
            if name in self.model_fields_set and getattr(self, name) is not None
        ]
        for name in type(self).model_fields:
            value: Any = getattr(self, name)
            if isinstance(value, SpecModel):
                found.extend(value.cloud_only_in_use(f"{prefix}{name}."))
        return found
