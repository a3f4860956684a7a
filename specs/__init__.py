"""What a user writes: Azure ML CLI v2 YAML specs as pydantic models, and their loading.

Names are loaded on first use: the CLI's light commands import `epdev.specs.errors` or
`epdev.specs.traffic` without paying for the pydantic models (tens to hundreds of ms).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from epdev.specs.batch import (
        BatchDeployment,
        BatchEndpoint,
        BatchResources,
        BatchSettings,
        RetrySettings,
    )
    from epdev.specs.deployment import (
        BuildContext,
        CodeConfiguration,
        Environment,
        ModelRef,
        OnlineDeployment,
        Probe,
        RequestSettings,
        ScaleSettings,
    )
    from epdev.specs.discovery import load_specs
    from epdev.specs.endpoint import OnlineEndpoint
    from epdev.specs.errors import SpecError, SpecIssue
    from epdev.specs.kinds import SpecKind
    from epdev.specs.loader import LoadedSpec, load_spec, validate_spec
    from epdev.specs.overrides import apply_overrides
    from epdev.specs.schema import json_schema
    from epdev.specs.traffic import (
        TrafficError,
        check_traffic,
        parse_traffic,
        traffic_problem,
        validate_traffic,
    )

# Each public name and the submodule that defines it.
_HOME = {
    "BatchDeployment": "batch",
    "BatchEndpoint": "batch",
    "BatchResources": "batch",
    "BatchSettings": "batch",
    "RetrySettings": "batch",
    "BuildContext": "deployment",
    "CodeConfiguration": "deployment",
    "Environment": "deployment",
    "ModelRef": "deployment",
    "OnlineDeployment": "deployment",
    "Probe": "deployment",
    "RequestSettings": "deployment",
    "ScaleSettings": "deployment",
    "OnlineEndpoint": "endpoint",
    "SpecError": "errors",
    "SpecIssue": "errors",
    "SpecKind": "kinds",
    "LoadedSpec": "loader",
    "apply_overrides": "overrides",
    "load_spec": "loader",
    "load_specs": "discovery",
    "validate_spec": "loader",
    "json_schema": "schema",
    "TrafficError": "traffic",
    "check_traffic": "traffic",
    "parse_traffic": "traffic",
    "traffic_problem": "traffic",
    "validate_traffic": "traffic",
}


def __getattr__(name: str) -> Any:
    module = _HOME.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "BatchDeployment",
    "BatchEndpoint",
    "BatchResources",
    "BatchSettings",
    "BuildContext",
    "CodeConfiguration",
    "Environment",
    "LoadedSpec",
    "ModelRef",
    "OnlineDeployment",
    "OnlineEndpoint",
    "Probe",
    "RequestSettings",
    "RetrySettings",
    "ScaleSettings",
    "SpecError",
    "SpecIssue",
    "SpecKind",
    "TrafficError",
    "apply_overrides",
    "check_traffic",
    "json_schema",
    "load_spec",
    "load_specs",
    "parse_traffic",
    "traffic_problem",
    "validate_spec",
    "validate_traffic",
]
