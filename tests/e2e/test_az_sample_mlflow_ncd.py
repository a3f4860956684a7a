"""The az-style `mlflow-ncd` sample, step by step: its model built by its make_model.py, its YAML
deployed with the CLI, its request file and curl calls answered as Azure answers them.

The sample's deploy.sh runs unmodified under the az-samples runner; this test walks the same
flow without the `--query ... -o tsv` and spellings that runner relies on.
"""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from support.devserver import running_server

pytest.importorskip("mlflow")
pytestmark = pytest.mark.slow

SAMPLE = Path(__file__).parent / "az_samples" / "mlflow-ncd"
ENDPOINT = "my-endpoint"  # the name in create-endpoint.yaml
DEPLOYMENT = "sklearn-deployment"


def test_the_mlflow_ncd_sample(tmp_path_factory: pytest.TempPathFactory) -> None:
    folder = tmp_path_factory.mktemp("sample") / "mlflow-ncd"
    shutil.copytree(SAMPLE, folder)
    subprocess.run([sys.executable, "make_model.py"], cwd=folder, check=True, timeout=300)
    assert (folder / "sklearn-diabetes/model/MLmodel").is_file()
    with running_server(tmp_path_factory.mktemp("home")) as server:
        server.cli("online-endpoint", "create", "-f", str(folder / "create-endpoint.yaml"))
        assert server.cli_json("online-endpoint", "show", "-n", ENDPOINT)["provisioning_state"] == (
            "Succeeded"
        )
        deployment_yaml = str(folder / "sklearn-deployment.yaml")
        server.cli(
            "online-deployment", "create", "-n", DEPLOYMENT, "-f", deployment_yaml,
            "--all-traffic", timeout=600,
        )  # fmt: skip
        shown = server.cli_json("online-deployment", "show", "-n", DEPLOYMENT, "-e", ENDPOINT)
        assert shown["provisioning_state"] == "Succeeded", shown

        request_file = str(folder / "sample-request-sklearn.json")
        invoked = server.cli("online-endpoint", "invoke", "-n", ENDPOINT, "-r", request_file)
        predictions = json.loads(invoked.stdout)
        assert isinstance(predictions, list) and len(predictions) == 2
        assert all(isinstance(value, float) for value in predictions)

        uri = server.cli_json("online-endpoint", "show", "-n", ENDPOINT)["scoring_uri"]
        key = server.cli_json("online-endpoint", "get-credentials", "-n", ENDPOINT)["primaryKey"]
        headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
        verify = ssl.create_default_context(cafile=server.ca_bundle) if server.ca_bundle else True
        with httpx.Client(headers=headers, verify=verify, timeout=60) as client:
            direct = client.post(uri, content=(folder / "sample-request-sklearn.json").read_bytes())
            assert direct.status_code == 200, direct.text
            assert direct.json() == predictions

            columns = json.loads((folder / "sample-request-sklearn.json").read_text())
            split = {"columns": columns["input_data"]["columns"], "data": [list(range(1, 11))]}
            mlflow_format = client.post(uri, json={"dataframe_split": split})
            assert mlflow_format.status_code == 200, mlflow_format.text
            assert len(mlflow_format.json()["predictions"]) == 1

            wrong = client.post(uri, json={"data": [list(range(1, 11))]})
            assert wrong.status_code == 400
            assert "Received the fields 'data'" in wrong.json()["message"]

        logs = server.cli("online-deployment", "get-logs", "-n", DEPLOYMENT, "-e", ENDPOINT)
        assert "MLflow model" in logs.stdout
        server.cli("online-endpoint", "delete", "-n", ENDPOINT, "--yes", timeout=300)
