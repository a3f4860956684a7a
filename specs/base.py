"""Shared base for spec models: strict about unknown keys, aware of cloud-only fields."""

from __future__ import annotations

import re
from typing import Annotated, Any, ClassVar

from pydantic import AfterValidator, BaseModel, ConfigDict

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
