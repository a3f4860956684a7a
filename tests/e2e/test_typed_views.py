"""The CLI's and the dashboard's client reads every kind of answer as its typed view: each one
validates with no key its view does not name, and the view writes back the very bytes the
devserver sent (so typing the API changed nothing on the wire)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from pydantic import BaseModel, TypeAdapter
from support.batch_jobs import finished
from support.batch_project import BatchProject, make_batch_project
from support.devserver import RunningServer, running_server
from support.sample_project import SampleProject, make_sample_project

from epdev.devserver import views
from epdev.devserver.client import Client, Connection
from epdev.devserver.home import Home

pytestmark = pytest.mark.slow

T = TypeVar("T")
ENDPOINT = "typed-ep"


def _no_extras(value: Any, where: str) -> None:
    if isinstance(value, BaseModel):
        # A spec's cloud-only fields are kept as written (and named in cloud_only).
        extra = set(value.model_extra or ()) - set(getattr(value, "cloud_only", ()))
        assert not extra, f"{where}: keys no view names: {sorted(extra)}"
        for name in type(value).model_fields:
            _no_extras(getattr(value, name), f"{where}.{name}")
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _no_extras(item, f"{where}[{index}]")
    elif isinstance(value, dict):
        for key, item in value.items():
            _no_extras(item, f"{where}.{key}")


def typed(kind: Any, data: Any, where: str) -> Any:
    """`data` as the view `kind`, checked to name every key and to write `data` back unchanged."""
    adapter: TypeAdapter[Any] = TypeAdapter(kind)
    view = adapter.validate_python(data)
    _no_extras(view, where)
    assert adapter.dump_json(view) == TypeAdapter(Any).dump_json(data), where
    return view


@pytest.fixture(scope="module")
def projects(tmp_path_factory: pytest.TempPathFactory) -> tuple[SampleProject, BatchProject]:
    online = make_sample_project(tmp_path_factory.mktemp("online"), endpoint=ENDPOINT)
    batch = make_batch_project(tmp_path_factory.mktemp("batch"), csv_files=2, csv_rows=5)
    return online, batch


@pytest.fixture(scope="module")
def client(
    tmp_path_factory: pytest.TempPathFactory, projects: tuple[SampleProject, BatchProject]
) -> Iterator[Client]:
    online, batch = projects
    with running_server(tmp_path_factory.mktemp("home")) as server:
        _populate(server, online, batch)
        with Client(Connection.discover(Home(server.home))) as client:
            yield client


def _populate(server: RunningServer, online: SampleProject, batch: BatchProject) -> None:
    server.cli("online-endpoint", "create", "-f", str(online.endpoint_yml))
    server.cli("online-deployment", "create", "-f", str(online.blue_yml), "--all-traffic")
    server.cli(
        "online-endpoint", "invoke", "-n", ENDPOINT, "--request-file", str(online.request_file)
    )
    server.cli("batch-endpoint", "create", "-f", str(batch.endpoint_yml))
    server.cli("batch-deployment", "create", "-f", str(batch.deployment_yml("tabular")))
    job = server.cli_json(
        "batch-endpoint", "invoke", "-n", "batch-sample", "--input", str(batch.csv_dir)
    )
    assert finished(server, job["name"])["status"] == "Completed"


def test_online_answers_read_as_views(client: Client, tmp_path: Path) -> None:
    (endpoint,) = typed(list[views.EndpointView], client.list_endpoints(), "endpoints")
    assert endpoint.name == ENDPOINT and endpoint.traffic == {"blue": 100}
    assert endpoint.metrics is not None and endpoint.metrics.requests >= 1
    shown = typed(views.EndpointView, client.get_endpoint(ENDPOINT), "endpoint")
    assert shown.deployments == ["blue"]
    (deployment,) = typed(
        list[views.DeploymentView], client.list_deployments(ENDPOINT), "deployments"
    )
    assert deployment.provisioning_state == "Succeeded"
    assert deployment.health.instances[0].state == "Ready"
    assert deployment.code_configuration is not None
    assert deployment.code_configuration.scoring_script == "score.py"
    typed(views.DeploymentView, client.get_deployment(ENDPOINT, "blue"), "deployment")
    keys = typed(views.Credentials, client.get_credentials(ENDPOINT), "keys")
    assert isinstance(keys, views.EndpointKeys) and keys.primaryKey != keys.secondaryKey
    typed(views.MirrorReport, client.mirror_report(ENDPOINT), "mirror report")
    metrics = typed(views.EndpointMetrics, client.endpoint_metrics(ENDPOINT), "metrics")
    assert set(metrics.deployments) == {"blue"} and metrics.total.summary.requests >= 1
    page = typed(views.LogSearchPage, client.search_logs(ENDPOINT, "blue", "init"), "search")
    assert page.total_bytes > 0

    token_endpoint = {"name": "typed-token-ep", "auth_mode": "aml_token"}
    typed(views.EndpointView, client.create_endpoint(token_endpoint, None), "token endpoint")
    token = typed(views.Credentials, client.get_credentials("typed-token-ep"), "token")
    assert isinstance(token, views.EndpointToken) and token.tokenType == "Bearer"
    client.delete_endpoint("typed-token-ep")


def test_batch_answers_read_as_views(client: Client) -> None:
    (endpoint,) = typed(list[views.BatchEndpointView], client.list_batch_endpoints(), "batch")
    assert endpoint.defaults.deployment_name == "tabular"
    (deployment,) = typed(
        list[views.BatchDeploymentView], client.list_batch_deployments("batch-sample"), "deps"
    )
    assert deployment.is_default and deployment.settings.mini_batch_size >= 1
    (job,) = typed(list[views.JobView], client.list_jobs(), "jobs")
    assert job.status == "Completed" and job.progress.items_done == 2
    typed(views.JobView, client.get_job(job.name), "job")


def test_registries_read_as_views(client: Client, tmp_path: Path) -> None:
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "weights.txt").write_text("1")
    model = typed(
        views.AssetView,
        client.create_asset("models", name="typed-model", path=str(tmp_path / "model")),
        "model",
    )
    assert model.id == f"azureml:typed-model:{model.version}"
    typed(list[views.AssetView], client.list_assets("models"), "models")
    typed(views.AssetView, client.get_asset("models", "typed-model", None), "model latest")
    typed(
        views.AssetView,
        client.create_asset("data", name="typed-data", path=str(tmp_path / "model")),
        "data",
    )
    spec = {"name": "typed-env", "image": "python:3.11-slim", "description": "typed"}
    environment = typed(views.EnvironmentView, client.create_environment(spec), "environment")
    assert environment.conda_file is None and environment.build is None
    typed(list[views.EnvironmentView], client.list_environments(), "environments")
