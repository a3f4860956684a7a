"""What every runtime prepares for an instance: the model folder and the worker's environment."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from epdev.runtimes.instance import InstanceFailed, InstanceSpec
from epdev.runtimes.worker import modes


def stage_model_dir(spec: InstanceSpec, work_dir: Path) -> Path:
    """Make `work_dir/model`, holding one link named after the model path to the model.

    This is the folder AZUREML_MODEL_DIR points at, so `$AZUREML_MODEL_DIR/<name>/...` resolves
    as it does in Azure, whether the model is a folder or a single file. Without a model the
    folder is empty.
    """
    staging = Path(os.path.normpath(work_dir.absolute() / "model"))
    if staging.is_symlink() or staging.is_file():
        staging.unlink()
    elif staging.exists():
        shutil.rmtree(staging)  # holds only links we made; rmtree never follows them
    staging.mkdir(parents=True)
    if spec.model_path is not None:
        model = Path(os.path.normpath(spec.model_path.absolute()))
        if not model.exists():
            raise InstanceFailed(f"the model path {model} does not exist")
        (staging / model.name).symlink_to(model, target_is_directory=model.is_dir())
    return staging


def worker_environment(
    spec: InstanceSpec, model_dir: Path, base: dict[str, str] | None = None
) -> dict[str, str]:
    """The worker's environment: `base`, the deployment's variables, then Azure's own."""
    env = dict(os.environ if base is None else base)
    env["PYTHONUNBUFFERED"] = "1"
    env.update(spec.environment_variables)
    env["AZUREML_MODEL_DIR"] = str(model_dir)
    env["AML_APP_ROOT"] = os.path.normpath(spec.code_dir.absolute())
    env["AZUREML_ENTRY_SCRIPT"] = spec.scoring_script
    if spec.mlflow:
        env[modes.SCORING_MODE] = modes.MLFLOW
        # Validated values, over whatever text the deployment's variables held.
        env[modes.MAX_BATCH_SIZE] = str(spec.max_batch_size)
        env[modes.MAX_LATENCY_MS] = repr(spec.max_batch_latency_ms)
    else:
        env.pop(modes.SCORING_MODE, None)
    return env
