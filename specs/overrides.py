"""az ml's `--set a.b=value` overrides: applied to a spec's data, and traced back from an error."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from epdev.specs.errors import SpecError
from epdev.specs.yamlsource import Location


def apply_overrides(data: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """az ml's `--set a.b=value`: set nested keys, creating mappings on the way.

    Returns a new mapping; `data` is left as it was.
    """
    result: dict[str, Any] = _deep_copy(data)
    for dotted_key, value in overrides.items():
        parts = dotted_key.split(".")
        if not all(parts):
            raise SpecError.single(
                "an override key must be a dotted key path such as "
                "request_settings.request_timeout_ms",
                field=dotted_key,
            )
        node = result
        for part in parts[:-1]:
            child = node.get(part)
            if not isinstance(child, dict):
                child = {}
                node[part] = child
            node = child
        node[parts[-1]] = _deep_copy(value)
    return result


def override_of(loc: Location, overrides: Mapping[str, Any]) -> str | None:
    """`key=value` of the override that set the value at `loc`, if one did."""
    for key, value in overrides.items():
        parts = tuple(key.split("."))
        if tuple(str(p) for p in loc[: len(parts)]) == parts:
            return f"{key}={value!r}"
    return None


def _deep_copy(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
