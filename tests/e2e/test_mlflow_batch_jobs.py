"""MLflow batch deployments end to end: no scoring script, CSV and Parquet in, one output row per
input row with the file's name, through the real CLI and devserver."""

from __future__ import annotations

import csv
import textwrap
from pathlib import Path
from typing import Any

import pytest
from support.devserver import RunningServer, wait_until
from support.mlflow_models import FEATURES, register_model, save_sklearn_model, training_frame

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

ENDPOINT = "mlflow-batch"
DEPLOYMENT_SCHEMA = "https://azuremlschemas.azureedge.net/latest/batchDeployment.schema.json"


@pytest.fixture(scope="module")
def server(epdev_server: EpdevServer) -> RunningServer:
    return RunningServer.of(epdev_server)


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_sklearn_model(tmp_path_factory.mktemp("models") / "iris")


@pytest.fixture(scope="module")
def endpoint(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> str:
    yml = tmp_path_factory.mktemp("endpoint") / "endpoint.yml"
    yml.write_text(f"name: {ENDPOINT}\n")
    server.cli("batch-endpoint", "create", "-f", str(yml))
    return ENDPOINT


@pytest.fixture(scope="module")
def inputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two CSV files and a Parquet file of iris-like rows."""
    folder = tmp_path_factory.mktemp("inputs")
    features, _ = training_frame()
    features.iloc[:4].to_csv(folder / "a.csv", index=False)
    features.iloc[4:].to_csv(folder / "b.csv", index=False)
    features.iloc[::-1].to_parquet(folder / "c.parquet")
    return folder


def deployment(folder: Path, name: str, model: str, extra: str = "") -> Path:
    """A no-code deployment of `model`: a path, an MLflow registry URI or an azureml: reference."""
    model_yaml = model if model.startswith("azureml:") else f'{{path: "{model}"}}'
    path = folder / f"{name}.yml"
    path.write_text(
        textwrap.dedent(
            f"""\
            $schema: {DEPLOYMENT_SCHEMA}
            name: {name}
            endpoint_name: {ENDPOINT}
            type: model
            model: {model_yaml}
            settings:
              mini_batch_size: 2
            """
        )
        + extra
    )
    return path


def run_job(server: RunningServer, name: str, inputs: Path) -> dict[str, Any]:
    job = server.cli_json(
        "batch-endpoint", "invoke", "-n", ENDPOINT, "-d", name, "--input", str(inputs)
    )
    with server.api() as api:

        def done() -> dict[str, Any] | None:
            view: dict[str, Any] = api.get(f"/api/v1/jobs/{job['name']}").json()
            return view if view["status"] in ("Completed", "Failed", "Canceled") else None

        view: dict[str, Any] = wait_until(done, timeout=300, interval=0.3)
    assert view["status"] == "Completed", view["error"]
    return view


def expected_rows(model: Path, inputs: Path) -> list[tuple[str, str]]:
    """The model's own predictions for every input row, loaded with mlflow here."""
    import mlflow.pyfunc
    import pandas as pd

    loaded = mlflow.pyfunc.load_model(str(model))
    rows: list[tuple[str, str]] = []
    for path in sorted(inputs.iterdir()):
        frame = pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)
        rows += [(path.name, str(p)) for p in loaded.predict(frame[FEATURES])]
    return sorted(rows)


def output_rows(view: dict[str, Any]) -> list[tuple[str, str]]:
    lines = Path(view["outputs"]["file"]).read_text().splitlines()
    return sorted((row[0], row[1]) for row in csv.reader(lines))


def test_no_code_mlflow_deployment_scores_csv_and_parquet(
    server: RunningServer, endpoint: str, model: Path, inputs: Path, tmp_path: Path
) -> None:
    yml = deployment(tmp_path, "local-model", str(model))
    server.cli("batch-deployment", "create", "-f", str(yml))
    view = run_job(server, "local-model", inputs)
    rows = output_rows(view)
    assert len(rows) == 12  # 4 + 2 CSV rows, 6 Parquet rows
    assert rows == expected_rows(model, inputs)


def test_mlflow_registry_uri_with_alias(
    server: RunningServer, endpoint: str, model: Path, inputs: Path, tmp_path: Path
) -> None:
    tracking = f"sqlite:///{tmp_path / 'registry.db'}"
    assert register_model(model, tracking, "iris-batch", "champion") == "1"
    extra = f"environment_variables:\n  MLFLOW_TRACKING_URI: {tracking}\n"
    yml = deployment(tmp_path, "registry-model", "models:/iris-batch@champion", extra)
    server.cli("batch-deployment", "create", "-f", str(yml))
    view = run_job(server, "registry-model", inputs)
    assert output_rows(view) == expected_rows(model, inputs)


def test_registered_azureml_mlflow_model(
    server: RunningServer, endpoint: str, model: Path, inputs: Path, tmp_path: Path
) -> None:
    server.cli("model", "create", "-n", "iris-b", "-p", str(model), "-t", "mlflow_model")
    yml = deployment(tmp_path, "registered", "azureml:iris-b@latest")
    server.cli("batch-deployment", "create", "-f", str(yml))
    view = run_job(server, "registered", inputs)
    assert output_rows(view) == expected_rows(model, inputs)


def test_unknown_registry_model_fails_the_invocation_with_the_reason(
    server: RunningServer, endpoint: str, inputs: Path, tmp_path: Path
) -> None:
    tracking = f"sqlite:///{tmp_path / 'empty.db'}"
    extra = f"environment_variables:\n  MLFLOW_TRACKING_URI: {tracking}\n"
    yml = deployment(tmp_path, "missing-model", "models:/nowhere/1", extra)
    server.cli("batch-deployment", "create", "-f", str(yml))
    result = server.cli(
        "batch-endpoint",
        "invoke",
        "-n",
        ENDPOINT,
        "-d",
        "missing-model",
        "--input",
        str(inputs),
        check=False,
    )
    assert result.returncode != 0
    assert "nowhere" in result.stderr
