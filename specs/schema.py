"""JSON Schema of the specs, for editors (yaml-language-server) and the devserver's API docs."""

from __future__ import annotations

from typing import Any, get_args

from epdev.specs.kinds import MODELS, SpecKind

JSON_SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"

_TITLES: dict[SpecKind, tuple[str, str]] = {
    "online-endpoint": (
        "managedOnlineEndpoint (epdev)",
        "An Azure ML CLI v2 managed online endpoint, as epdev reads it.",
    ),
    "online-deployment": (
        "managedOnlineDeployment (epdev)",
        "An Azure ML CLI v2 managed online deployment, as epdev reads it. Relative paths "
        "resolve against the YAML file's folder.",
    ),
    "batch-endpoint": (
        "batchEndpoint (epdev)",
        "An Azure ML CLI v2 batch endpoint, as epdev reads it.",
    ),
    "batch-deployment": (
        "batchDeployment (epdev)",
        "An Azure ML CLI v2 batch deployment (type: model), as epdev reads it: tuning under "
        "settings: or, in the older form, at the root. Relative paths resolve against the YAML "
        "file's folder.",
    ),
}


def json_schema(kind: SpecKind) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of what a `kind` spec file may contain.

    It describes input (pydantic's validation mode): numbers are accepted where epdev reads
    them as text, and the Azure `$schema` key is an allowed property.
    """
    if kind not in MODELS:
        known = ", ".join(get_args(SpecKind))
        raise ValueError(f"unknown spec kind {kind!r}; known kinds: {known}")
    schema = MODELS[kind].model_json_schema(mode="validation")
    title, description = _TITLES[kind]
    return {"$schema": JSON_SCHEMA_DIALECT, **schema, "title": title, "description": description}
