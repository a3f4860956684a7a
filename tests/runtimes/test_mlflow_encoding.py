"""The MLflow worker's direct encoding of array predictions writes what MLflow's
predictions_to_json writes, byte for byte; anything else still goes through MLflow's."""

from __future__ import annotations

import io
import warnings
from pathlib import Path
from typing import Any

import pytest
from support.mlflow_models import save_sklearn_model

pytest.importorskip("mlflow")
pytestmark = pytest.mark.slow


def test_predictions_encode_as_mlflow_encodes_them(tmp_path: Path) -> None:
    import numpy as np
    import pandas as pd

    from epdev.runtimes.worker.mlflow_app import MLflowModel

    path = save_sklearn_model(tmp_path / "m")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # MLflow's remarks on its own type hints, at import
        import mlflow.pyfunc
        from mlflow.pyfunc import scoring_server

        served = MLflowModel(mlflow.pyfunc.load_model(str(path)))
    cases: list[Any] = [
        np.array([0.1, -0.0, 1e-7, 1e300, 2.5e-320, np.nan, np.inf, -np.inf, 3.0]),
        np.array([0.1, 1 / 3, 7.0], dtype=np.float32),
        np.array([0.5], dtype=np.float16),
        np.array([[1, -2], [3, 2**62]], dtype=np.int64),
        np.array([0, 255], dtype=np.uint8),
        np.array([2**64 - 1], dtype=np.uint64),
        np.array([True, False]),
        np.array(["setosa", "virginica", "é\u2603\U0001f600", 'q"\\\n']),
        np.array([], dtype=np.float64),
        np.array(3.5),
        np.array([1 + 2j]),  # complex: not JSON for either, so MLflow's path says so
        np.array([{"a": 1}, None], dtype=object),
        pd.DataFrame({"y": [1.5, 2.0], "label": ["a", "b"]}),
        pd.Series([1, 2], name="s"),
        [1, 2.5, "x"],
    ]
    for predictions in cases:
        expected = io.StringIO()
        try:
            scoring_server.predictions_to_json(predictions, expected)
        except TypeError:
            with pytest.raises(TypeError):
                served.encode(predictions)
            continue
        answer = served.encode(predictions)
        assert (answer.status, answer.body) == (200, expected.getvalue().encode()), predictions
