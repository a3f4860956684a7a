"""MLflow registry URIs (models:/name/version, models:/name@alias) fetched into a local folder.

The model is copied once per tracking URI, name and version into EPDEV_HOME's cache, so that
every runtime (a venv reading its requirements.txt, a container mounting it) sees a plain
MLflow model folder. An alias is looked up when the deployment starts, as Azure resolves a model
when it deploys. mlflow is imported only here, on first use: the devserver runs without it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from epdev.runtimes.instance import InstanceFailed

TRACKING_URI = "MLFLOW_TRACKING_URI"
_URI = re.compile(r"^models:/([^/@]+)(?:/([^/@]+)|@([^/@]+))$")


def _import_mlflow() -> Any:
    try:
        import mlflow
    except ImportError:
        raise InstanceFailed(
            "this deployment's model is an MLflow model, which needs mlflow in the devserver's "
            "Python: pip install 'epdev[mlflow]'"
        ) from None
    return mlflow


def fetch_registered_model(
    uri: str, variables: Mapping[str, str], cache_dir: Path
) -> tuple[Path, str]:
    """The local folder of the registered model `uri`, and the version it resolved to.

    The tracking URI is the deployment's MLFLOW_TRACKING_URI variable, else the devserver's.
    """
    match = _URI.fullmatch(uri)
    if match is None:
        raise InstanceFailed(f"model.path {uri!r} is not an MLflow registry URI")
    name, version, alias = match.groups()
    tracking_uri = variables.get(TRACKING_URI) or os.environ.get(TRACKING_URI)
    if not tracking_uri:
        raise InstanceFailed(
            f"model.path {uri!r} names a registered MLflow model, but {TRACKING_URI} is not set: "
            "set it in the deployment's environment_variables or in the devserver's environment"
        )
    mlflow = _import_mlflow()
    from mlflow.exceptions import MlflowException

    try:
        client = mlflow.MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
        if alias is not None:
            version = str(client.get_model_version_by_alias(name, alias).version)
        else:
            client.get_model_version(name, version)  # a clear error when it does not exist
        # Where the version's files are; models:/ itself would be looked up in the default
        # registry rather than in this one.
        source = client.get_model_version_download_uri(name, version)
        key = hashlib.sha256(f"{tracking_uri}\n{name}\n{version}".encode()).hexdigest()[:16]
        target = cache_dir / "mlflow-models" / f"{_safe(name)}-v{version}-{key}"
        if (target / "MLmodel").is_file():
            return target, str(version)
        staging = target.with_name(f".{target.name}.tmp")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=source, dst_path=str(staging), tracking_uri=tracking_uri
        )
    except MlflowException as exc:
        raise InstanceFailed(f"model.path {uri!r} at {tracking_uri}: {exc.message}") from None
    except OSError as exc:
        raise InstanceFailed(f"could not fetch model {uri!r} from {tracking_uri}: {exc}") from None
    folder = Path(local)
    if not (folder / "MLmodel").is_file():
        found = sorted(folder.rglob("MLmodel"))
        if not found:
            raise InstanceFailed(f"model {uri!r} at {tracking_uri} has no MLmodel file")
        folder = found[0].parent
    try:
        folder.rename(target)
    except OSError:
        if not (target / "MLmodel").is_file():  # not another start that made it first
            raise
    shutil.rmtree(staging, ignore_errors=True)
    return target, str(version)


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)[:64]
