"""Finding and loading the MLflow model under AZUREML_MODEL_DIR, online and in batch.

mlflow is imported only when a model is loaded: a worker serving a scoring script never pays
for it, and one without mlflow says so in one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

MLMODEL = "MLmodel"
SEARCH_DEPTH = 3


class ModelNotFound(Exception):
    """No MLflow model where one was expected; the message says where we looked."""


def find_model(model_dir: Path) -> Path:
    """The folder holding `MLmodel`: `model_dir` itself or the shallowest one below it.

    Azure puts the model under `$AZUREML_MODEL_DIR/<model name>/`, so it is one level down;
    links are followed, since that is how a local model is staged.
    """
    if (model_dir / MLMODEL).is_file():
        return model_dir
    found: list[Path] = []
    for root, dirs, files in os.walk(model_dir, followlinks=True):
        depth = len(Path(root).relative_to(model_dir).parts)
        if MLMODEL in files:
            found.append(Path(root))
        if depth >= SEARCH_DEPTH:
            dirs.clear()
        dirs.sort()
    if not found:
        raise ModelNotFound(f"no MLflow model ({MLMODEL} file) under {model_dir}")
    return min(found, key=lambda path: (len(path.parts), str(path)))


def import_pyfunc() -> Any:
    try:
        import mlflow.pyfunc
    except ImportError as exc:
        raise ModelNotFound(
            f"serving an MLflow model needs mlflow in the instance's Python ({exc}); "
            "pip install 'epdev[mlflow]', or list mlflow in the model's requirements.txt"
        ) from None
    return mlflow.pyfunc


def load_model(model_dir: Path) -> tuple[Any, Path]:
    """The pyfunc model found under `model_dir`, and where it was.

    It loads from its real path, as `mlflow models serve` would given that folder, so that
    paths in MLflow's error bodies (stack traces) name the same files.
    """
    folder = Path(os.path.realpath(find_model(model_dir)))
    pyfunc = import_pyfunc()
    from mlflow.pyfunc import scoring_server

    # MLflow's own serving loader honours SERVING_MODEL_CONFIG, as `mlflow models serve` does.
    loader = getattr(scoring_server, "load_model_with_mlflow_config", pyfunc.load_model)
    return loader(str(folder)), folder
