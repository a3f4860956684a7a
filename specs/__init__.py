"""What a user writes: Azure ML CLI v2 YAML specs as pydantic models, and their loading."""

from epdev.specs.deployment import (
    CodeConfiguration,
    Environment,
    ModelRef,
    OnlineDeployment,
    Probe,
    RequestSettings,
)
from epdev.specs.endpoint import OnlineEndpoint
from epdev.specs.errors import SpecError, SpecIssue
from epdev.specs.loader import LoadedSpec, load_spec, load_specs
from epdev.specs.traffic import parse_traffic, validate_traffic

__all__ = [
    "CodeConfiguration",
    "Environment",
    "LoadedSpec",
    "ModelRef",
    "OnlineDeployment",
    "OnlineEndpoint",
    "Probe",
    "RequestSettings",
    "SpecError",
    "SpecIssue",
    "load_spec",
    "load_specs",
    "parse_traffic",
    "validate_traffic",
]
