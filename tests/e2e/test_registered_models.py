"""Online deployments of registered models (`model: azureml:NAME:VERSION` / `@latest`): registered
with `epdev model create`, resolved by the devserver when the deployment starts, through the CLI."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from support.devserver import RunningServer
from support.mlflow_models import FEATURES, save_sklearn_model, training_frame
from support.sample_project import SampleProject, make_sample_project

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

ENDPOINT = "registered-ep"
DEPLOYMENT_SCHEMA = (
    "https://azuremlschemas.azureedge.net/latest/managedOnlineDeployment.schema.json"
)


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> SampleProject:
    return make_sample_project(tmp_path_factory.mktemp("registered"), endpoint=ENDPOINT)


@pytest.fixture(scope="module")
def server(epdev_server: EpdevServer, project: SampleProject) -> RunningServer:
    server = RunningServer.of(epdev_server)
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    # Two versions of one custom model (the sample's two Ridge models), the newest created last.
    for which in (1, 2):
        model_dir = project.model_file(which).parent
        server.cli("model", "create", "--name", "ridge", "--path", str(model_dir))
    return server


def deployment(project: SampleProject, name: str, body: str) -> Path:
    path = project.root / f"{name}.yml"
    text = f"$schema: {DEPLOYMENT_SCHEMA}\nname: {name}\nendpoint_name: {ENDPOINT}\n"
    path.write_text(text + textwrap.dedent(body))
    return path


def create(server: RunningServer, yml: Path, check: bool = True) -> Any:
    return server.cli("online-deployment", "create", "-f", str(yml), check=check, timeout=600)


def invoke(server: RunningServer, name: str, request: Path) -> Any:
    result = server.cli(
        "online-endpoint", "invoke", "-n", ENDPOINT, "-d", name, "--request-file", str(request)
    )
    return json.loads(result.stdout)


CUSTOM = """\
    model: {model}
    code_configuration:
      code: model-1/onlinescoring
      scoring_script: score.py
    """


@pytest.mark.parametrize(
    ("reference", "which"), [("azureml:ridge:1", 1), ("azureml:ridge@latest", 2)]
)
def test_custom_model_with_a_scoring_script(
    server: RunningServer, project: SampleProject, reference: str, which: int
) -> None:
    name = f"ridge-v{which}"
    create(server, deployment(project, name, CUSTOM.format(model=reference)))
    shown = server.cli_json("online-deployment", "show", "-n", name, "-e", ENDPOINT)
    assert shown["provisioning_state"] == "Succeeded", shown
    answer = invoke(server, name, project.request_file)
    assert answer == pytest.approx(project.expected_predictions(which))
    logs = server.cli("online-deployment", "get-logs", "-n", name, "-e", ENDPOINT).stdout
    assert f"model {reference} is ridge:{which} (custom_model)" in logs


def test_latest_follows_a_new_version_on_update(
    server: RunningServer, project: SampleProject
) -> None:
    def register(which: int) -> None:
        folder = str(project.model_file(which).parent)
        server.cli("model", "create", "--name", "moving", "--path", folder)

    register(1)
    yml = deployment(project, "moving", CUSTOM.format(model="azureml:moving@latest"))
    create(server, yml)
    assert invoke(server, "moving", project.request_file) == pytest.approx(
        project.expected_predictions(1)
    )
    register(2)
    server.cli("online-deployment", "update", "-f", str(yml), timeout=600)
    assert invoke(server, "moving", project.request_file) == pytest.approx(
        project.expected_predictions(2)
    )
    logs = server.cli("online-deployment", "get-logs", "-n", "moving", "-e", ENDPOINT).stdout
    assert "model azureml:moving@latest is moving:2" in logs


def test_mlflow_model_without_code_or_environment(
    server: RunningServer, project: SampleProject
) -> None:
    model = save_sklearn_model(project.root / "iris-model")
    import mlflow.pyfunc  # after saving, which imports it with mlflow's warnings silenced

    server.cli("model", "create", "-n", "iris", "-v", "3", "-p", str(model), "-t", "mlflow_model")
    create(server, deployment(project, "iris", "model: azureml:iris:3\n"))
    features, _ = training_frame()
    request = project.root / "iris-request.json"
    rows = features.values.tolist()
    request.write_text(json.dumps({"dataframe_split": {"columns": FEATURES, "data": rows}}))
    expected = mlflow.pyfunc.load_model(str(model)).predict(features).tolist()
    assert invoke(server, "iris", request) == {"predictions": expected}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("model: azureml:nowhere:1\n", "model: 'azureml:nowhere:1': model asset 'nowhere' does"),
        ("model: azureml:ridge:7\n", "model asset 'ridge' has no version '7' (it has 1, 2)"),
        ("model: azureml:ridge:1\n", "a custom_model without an MLmodel file, so it needs"),
        ("model:\n  path: azureml:ridge:1\n", "write it as `model: azureml:ridge:1`"),
    ],
)
def test_bad_references_are_refused_naming_them(
    server: RunningServer, project: SampleProject, body: str, message: str
) -> None:
    result = create(server, deployment(project, "refused", body), check=False)
    assert result.returncode != 0
    assert message in result.stderr
    names = [d["name"] for d in server.cli_json("online-deployment", "list", "-e", ENDPOINT)]
    assert "refused" not in names
