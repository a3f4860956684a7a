"""What the control plane's REST API answers: one pydantic view per resource, shared by the
routes (as their response models, so the OpenAPI document shows them) and the clients.

The routes still build their answers as plain data; the views check that data and describe it,
and never reshape it. A view serialises exactly the keys it was given, in the order it was given
them, so a key left out stays out, a None stays null, and the JSON the CLI and scripts read is
the same as before the views existed. Extra keys are kept (`extra="allow"`), so a field added to
an answer before its view reaches the wire rather than failing the request. Imports only
pydantic, so a client can read the views without loading the server.

The views live in modules by what they describe (online, batch, registries, figures); every name
is importable from here, so callers write `views.EndpointView`.
"""

from __future__ import annotations

from epdev.devserver.views.base import (
    CodeConfiguration,
    Health,
    Number,
    Split,
    Timestamp,
    Validity,
    View,
)
from epdev.devserver.views.batch import (
    BatchDefaults,
    BatchDeploymentView,
    BatchEndpointView,
    BatchSettingsView,
    JobLog,
    JobOutputs,
    JobProgress,
    JobTimes,
    JobView,
)
from epdev.devserver.views.figures import (
    CallFigures,
    CurrentFigures,
    DeploymentCost,
    DeploymentMetrics,
    EndpointCost,
    EndpointMetrics,
    InstanceFigures,
    MetricsBlock,
    MetricsWindow,
    Series,
)
from epdev.devserver.views.online import (
    Credentials,
    DeploymentHealth,
    DeploymentView,
    EndpointKeys,
    EndpointToken,
    EndpointView,
    InstanceHealth,
    LogMatch,
    LogSearchPage,
    MirrorAnswer,
    MirrorExample,
    MirrorReport,
)
from epdev.devserver.views.registries import (
    AssetView,
    EnvironmentBuild,
    EnvironmentView,
)

__all__ = [
    "AssetView",
    "BatchDefaults",
    "BatchDeploymentView",
    "BatchEndpointView",
    "BatchSettingsView",
    "CallFigures",
    "CodeConfiguration",
    "Credentials",
    "CurrentFigures",
    "DeploymentCost",
    "DeploymentHealth",
    "DeploymentMetrics",
    "DeploymentView",
    "EndpointCost",
    "EndpointKeys",
    "EndpointMetrics",
    "EndpointToken",
    "EndpointView",
    "EnvironmentBuild",
    "EnvironmentView",
    "Health",
    "InstanceFigures",
    "InstanceHealth",
    "JobLog",
    "JobOutputs",
    "JobProgress",
    "JobTimes",
    "JobView",
    "LogMatch",
    "LogSearchPage",
    "MetricsBlock",
    "MetricsWindow",
    "MirrorAnswer",
    "MirrorExample",
    "MirrorReport",
    "Number",
    "Series",
    "Split",
    "Timestamp",
    "Validity",
    "View",
]
