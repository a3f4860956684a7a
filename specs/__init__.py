"""What a user writes: Azure ML CLI v2 YAML specs as pydantic models, and their loading."""

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
from epdev.specs.endpoint import OnlineEndpoint
from epdev.specs.errors import SpecError, SpecIssue
from epdev.specs.kinds import SpecKind
from epdev.specs.loader import (
    LoadedSpec,
    apply_overrides,
    load_spec,
    load_specs,
    validate_spec,
)
from epdev.specs.schema import json_schema
from epdev.specs.traffic import parse_traffic, validate_traffic

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
    "apply_overrides",
    "json_schema",
    "load_spec",
    "load_specs",
    "parse_traffic",
    "validate_spec",
    "validate_traffic",
]
