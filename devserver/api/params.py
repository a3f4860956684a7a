"""Names in the control plane's paths, queries and bodies, held to Azure's patterns so a name can
never reach another resource (the OpenAPI schema shows each pattern)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path, Query
from pydantic import Field, StrictInt, StringConstraints, WithJsonSchema

from epdev.devserver.names import ASSET_PATTERN, JOB_PATTERN, RESOURCE_PATTERN, VERSION_PATTERN

EndpointName = Annotated[str, Path(pattern=RESOURCE_PATTERN, description="Endpoint name")]
DeploymentName = Annotated[str, Path(pattern=RESOURCE_PATTERN, description="Deployment name")]
JobName = Annotated[str, Path(pattern=JOB_PATTERN, description="Job name")]
AssetName = Annotated[str, Path(pattern=ASSET_PATTERN, description="Data or model name")]
AssetVersion = Annotated[
    str, Path(pattern=VERSION_PATTERN, description="A version, or `latest` for the newest")
]
EndpointFilter = Annotated[
    str | None, Query(pattern=RESOURCE_PATTERN, description="Only this endpoint's")
]
AssetFilter = Annotated[str | None, Query(pattern=ASSET_PATTERN, description="Versions of one")]

ResourceNameField = Annotated[str, StringConstraints(pattern=RESOURCE_PATTERN)]
"""A deployment or endpoint name inside a request body."""
JobNameField = Annotated[str, StringConstraints(pattern=JOB_PATTERN)]

TrafficSplit = Annotated[
    dict[ResourceNameField, Annotated[StrictInt, Field(ge=0, le=100)]],
    WithJsonSchema(
        {
            "type": "object",
            "description": "Percent of calls per deployment name",
            "propertyNames": {"pattern": RESOURCE_PATTERN},
            "additionalProperties": {"type": "integer", "minimum": 0, "maximum": 100},
        }
    ),
]
"""A traffic or mirror split: deployment names to whole percents."""
