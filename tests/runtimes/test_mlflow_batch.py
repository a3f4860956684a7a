"""The MLflow batch scoring script: init() and run() called directly, over CSV and Parquet."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from support.mlflow_models import FEATURES, save_params_model, save_sklearn_model, training_frame

from epdev.runtimes.worker import mlflow_batch
from epdev.runtimes.worker.mlflow_model import ModelNotFound

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("models")
    # As Azure stages it: $AZUREML_MODEL_DIR/<model folder>/MLmodel.
    return {
        "iris": save_sklearn_model(root / "iris" / "model").parent,
        "scaler": save_params_model(root / "scaler" / "model").parent,
    }


@pytest.fixture
def iris(models: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(models["iris"]))
    mlflow_batch.init()
    yield
    monkeypatch.setattr(mlflow_batch, "_model", None)


def test_csv_and_parquet_files_give_one_row_per_input_row_with_the_file_name(
    iris: None, tmp_path: Path
) -> None:
    features, labels = training_frame()
    features.iloc[:4].to_csv(tmp_path / "part-0.csv", index=False)
    features.iloc[4:].to_parquet(tmp_path / "part-1.parquet")
    out = mlflow_batch.run([str(tmp_path / "part-0.csv"), str(tmp_path / "part-1.parquet")])
    assert list(out.columns) == ["file", "prediction"]
    assert list(out["file"]) == ["part-0.csv"] * 4 + ["part-1.parquet"] * 2
    assert list(out["prediction"]) == list(labels)


def test_csv_columns_are_typed_by_the_signature(iris: None, tmp_path: Path) -> None:
    # Whole numbers would read as int64; the signature says double, as the model needs.
    (tmp_path / "ints.csv").write_text(",".join(FEATURES) + "\n5,3,1,0\n7,3,6,2\n")
    out = mlflow_batch.run([str(tmp_path / "ints.csv")])
    assert list(out["prediction"]) == [0, 2]


def test_a_bad_file_fails_the_mini_batch_naming_the_file(iris: None, tmp_path: Path) -> None:
    (tmp_path / "short.csv").write_text("sepal_length\n1.0\n")
    with pytest.raises(ValueError, match=r"Error processing input file: '.*short\.csv'"):
        mlflow_batch.run([str(tmp_path / "short.csv")])
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(ValueError, match="File type 'txt' is not supported"):
        mlflow_batch.run([str(tmp_path / "notes.txt")])


def test_an_empty_mini_batch_gives_an_empty_frame(iris: None) -> None:
    out = mlflow_batch.run([])
    assert list(out.columns) == ["file", "prediction"] and len(out) == 0


def test_a_model_returning_several_columns_gives_each_row_as_a_record(
    models: dict[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import pandas as pd

    monkeypatch.setenv("AZUREML_MODEL_DIR", str(models["scaler"]))
    mlflow_batch.init()
    pd.DataFrame({"id": [1, 2], "x": [0.5, 1.5]}).to_csv(tmp_path / "a.csv", index=False)
    out = mlflow_batch.run([str(tmp_path / "a.csv")])
    assert list(out["prediction"]) == [{"id": 1, "y": 0.5}, {"id": 2, "y": 1.5}]


def test_init_without_a_model_says_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AZUREML_MODEL_DIR", str(tmp_path))
    with pytest.raises(ModelNotFound, match="no MLflow model"):
        mlflow_batch.init()
