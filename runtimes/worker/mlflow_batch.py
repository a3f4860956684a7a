"""The batch scoring script for an MLflow model deployed with no script, as Azure generates one.

It follows Azure's batch contract: ``init()`` once, with the model under ``AZUREML_MODEL_DIR``;
``run(mini_batch)`` with a list of file paths, returning a DataFrame. Each CSV or Parquet file is
read (CSV columns typed by the model's signature), predicted in one ``predict`` call, and gives
one row per input row: ``file`` (the file's name) and ``prediction`` (the model's value for that
row, as it returned it). A file of another type, or one that cannot be read or predicted, fails
the mini-batch with an error that names the file, as Azure's does.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from epdev.runtimes.worker.mlflow_model import ModelNotFound, load_model

SUPPORTED = (".csv", ".parquet")

_model: Any = None


def init() -> None:
    """Load the MLflow model found under AZUREML_MODEL_DIR."""
    global _model
    model_dir = os.environ.get("AZUREML_MODEL_DIR")
    if not model_dir:
        raise ModelNotFound("AZUREML_MODEL_DIR is not set: it names the MLflow model's folder")
    _model, _ = load_model(Path(model_dir))


def run(mini_batch: list[str]) -> Any:
    """Predictions for every row of every file, as a DataFrame with `file` and `prediction`."""
    import pandas as pd

    if _model is None:
        raise RuntimeError("init() has not loaded the model")
    frames = [_score(Path(path)) for path in mini_batch]
    if not frames:
        return pd.DataFrame(
            {"file": pd.Series(dtype=object), "prediction": pd.Series(dtype=object)}
        )
    return pd.concat(frames, ignore_index=True)


def _score(path: Path) -> Any:
    import pandas as pd

    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        kind = suffix.lstrip(".") or "(none)"
        raise ValueError(
            f"Error processing input file: '{path}'. File type '{kind}' is not supported; "
            f"MLflow batch deployments read {' and '.join(SUPPORTED)} files."
        )
    try:
        data = _read(path, suffix)
        predictions = _model.predict(data)
    except Exception as exc:
        raise ValueError(f"Error processing input file: '{path}'. Exception: {exc}") from exc
    values = _per_row(predictions)
    if len(values) != len(data):
        raise ValueError(
            f"Error processing input file: '{path}'. The model returned {len(values)} "
            f"predictions for {len(data)} rows."
        )
    return pd.DataFrame({"file": [path.name] * len(values), "prediction": values})


def _read(path: Path, suffix: str) -> Any:
    import pandas as pd

    if suffix == ".parquet":
        return pd.read_parquet(path)
    schema = _model.metadata.get_input_schema()
    if schema is not None and schema.has_input_names() and not schema.is_tensor_spec():
        # The signature's column types, as MLflow's own scoring server reads CSV.
        types = dict(zip(schema.input_names(), schema.pandas_types(), strict=True))
        return pd.read_csv(path, dtype=types)
    return pd.read_csv(path)


def _per_row(predictions: Any) -> list[Any]:
    """One value per input row: a scalar, or the row's values when the model returns several."""
    import numpy as np
    import pandas as pd

    if isinstance(predictions, pd.DataFrame):
        if len(predictions.columns) == 1:
            return list(predictions.iloc[:, 0])
        return list(predictions.to_dict(orient="records"))
    if isinstance(predictions, pd.Series):
        return list(predictions)
    if isinstance(predictions, np.ndarray):
        return [row.tolist() if isinstance(row, np.ndarray) else row for row in predictions]
    return list(predictions)
