"""Which batch script a deployment's workers load: its own, or for an MLflow model without
code_configuration, epdev's built-in Azure-style MLflow batch scorer. This is the one place
that decides."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from epdev.devserver.errors import BadRequest
from epdev.specs import BatchDeployment

MLFLOW_BATCH_MODULE = "epdev.runtimes.worker.mlflow_batch"


def scoring_entry(spec: BatchDeployment, model_is_mlflow: bool) -> tuple[Path, str]:
    """(app root, script file in it) for the deployment's workers."""
    if spec.code_configuration is not None:
        return spec.code_configuration.code, spec.code_configuration.scoring_script
    if not model_is_mlflow:
        raise BadRequest(
            f"batch deployment {spec.name!r} has no code_configuration and its model is not an "
            "MLflow model (no MLmodel file)"
        )
    found = importlib.util.find_spec(MLFLOW_BATCH_MODULE)
    if found is None or found.origin is None:
        raise BadRequest(
            f"batch deployment {spec.name!r} has an MLflow model and no code_configuration, "
            f"which needs {MLFLOW_BATCH_MODULE}; this epdev install does not have it, so add a "
            "code_configuration with a batch scoring script"
        )
    origin = Path(found.origin)
    return origin.parent, origin.name
