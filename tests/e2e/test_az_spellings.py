"""Every spelling az ml accepts, run in process (click's CliRunner) against the session's real
devserver: endpoint and deployment flags, unquoted splits, create with a name alone, --local,
asset files with --set, get-logs --container, and -o/--query on invoke."""

from __future__ import annotations

import json
import ssl
import textwrap
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from click.testing import CliRunner, Result
from support.devserver import RunningServer
from support.sample_project import SampleProject, make_sample_project

from epdev.devserver.cli.main import cli
from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

ENDPOINT = "spell-ep"


@pytest.fixture(scope="module")
def server(epdev_server: EpdevServer) -> RunningServer:
    return RunningServer.of(epdev_server)


def az(server: RunningServer, *args: str, ok: bool = True) -> Result:
    """`epdev ml ARGS`, in this process, against the session devserver."""
    result = CliRunner().invoke(cli, ["ml", *args], env={"EPDEV_HOME": str(server.home)})
    if ok:
        assert result.exit_code == 0, f"{args}: {result.output}"
    return result


def az_json(server: RunningServer, *args: str) -> Any:
    return json.loads(az(server, *args).stdout)


@pytest.fixture(scope="module")
def project(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> SampleProject:
    """An endpoint with blue (all traffic) and green, made with az's other spellings."""
    sample = make_sample_project(tmp_path_factory.mktemp("spell"), endpoint="named-in-file")
    # --name overrides the file's name, for the endpoint and for deployments.
    az(server, "online-endpoint", "create", "--name", ENDPOINT, "-f", str(sample.endpoint_yml))
    az(
        server,
        "online-deployment",
        "create",
        "--name",
        "blue",
        "--endpoint",
        ENDPOINT,
        "-f",
        str(sample.blue_yml),
        "--all-traffic",
    )
    az(
        server,
        "online-deployment",
        "create",
        "-n",
        "green",
        "-e",
        ENDPOINT,
        "-f",
        str(sample.green_yml),
    )
    return sample


def _traffic(server: RunningServer) -> dict[str, int]:
    found: dict[str, int] = az_json(
        server, "online-endpoint", "show", "-n", ENDPOINT, "--query", "traffic"
    )
    return found


def test_name_flags_override_the_files(server: RunningServer, project: SampleProject) -> None:
    names = az(
        server,
        "online-deployment",
        "list",
        "--endpoint-name",
        ENDPOINT,
        "--query",
        "[].name",
        "-o",
        "tsv",
    ).stdout.split()
    assert sorted(names) == ["blue", "green"]
    state = az(
        server,
        "online-deployment",
        "show",
        "-n",
        "green",
        "--endpoint",
        ENDPOINT,
        "--query",
        "provisioning_state",
        "-o",
        "tsv",
    ).stdout
    assert state == "Succeeded\n"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--traffic", "blue=90", "green=10"], {"blue": 90, "green": 10}),
        (["--traffic", "blue=80 green=20"], {"blue": 80, "green": 20}),
        (["-t", "blue=100", "green=0"], {"blue": 100, "green": 0}),
        (["--set", "traffic.blue=70", "traffic.green=30"], {"blue": 70, "green": 30}),
    ],
)
def test_traffic_quoted_or_not(
    server: RunningServer, project: SampleProject, args: list[str], expected: dict[str, int]
) -> None:
    az(server, "online-endpoint", "update", "--name", ENDPOINT, *args)
    assert _traffic(server) == expected


def test_mirror_traffic_unquoted(server: RunningServer, project: SampleProject) -> None:
    az(server, "online-endpoint", "update", "-n", ENDPOINT, "--traffic", "blue=100", "green=0")
    az(server, "online-endpoint", "update", "-n", ENDPOINT, "--mirror-traffic", "green=10")
    mirrored = az(
        server,
        "online-endpoint",
        "show",
        "-n",
        ENDPOINT,
        "--query",
        "mirror_traffic.green",
        "-o",
        "tsv",
    ).stdout
    assert mirrored == "10\n"
    az(server, "online-endpoint", "update", "-n", ENDPOINT, "--mirror-traffic", "green=0")


@pytest.mark.parametrize("flag", ["--deployment", "--deployment-name", "-d"])
def test_invoke_names_a_deployment_every_way_and_takes_output_options(
    server: RunningServer, project: SampleProject, flag: str
) -> None:
    expected = project.expected_predictions(2)
    answer = az_json(
        server,
        "online-endpoint",
        "invoke",
        "-n",
        ENDPOINT,
        flag,
        "green",
        "--request-file",
        str(project.request_file),
    )
    assert answer == pytest.approx(expected)
    first = az(
        server,
        "online-endpoint",
        "invoke",
        "-n",
        ENDPOINT,
        flag,
        "green",
        "-r",
        str(project.request_file),
        "--query",
        "[0]",
        "-o",
        "tsv",
    ).stdout
    assert float(first) == pytest.approx(expected[0])


def test_credentials_as_tsv(server: RunningServer, project: SampleProject) -> None:
    key = az(
        server,
        "online-endpoint",
        "get-credentials",
        "-n",
        ENDPOINT,
        "-o",
        "tsv",
        "--query",
        "primaryKey",
    ).stdout.strip()
    keys = az_json(server, "online-endpoint", "get-credentials", "-n", ENDPOINT)
    assert key == keys["primaryKey"] and "\t" not in key


def test_get_logs_by_container(server: RunningServer, project: SampleProject) -> None:
    preparing = az(
        server,
        "online-deployment",
        "get-logs",
        "-n",
        "blue",
        "-e",
        ENDPOINT,
        "--container",
        "storage-initializer",
    ).stdout
    serving = az(
        server,
        "online-deployment",
        "get-logs",
        "-n",
        "blue",
        "-e",
        ENDPOINT,
        "-c",
        "inference-server",
    ).stdout
    assert "instance(s) ready" in preparing and "instance(s) ready" not in serving
    assert "Init complete" in serving and "Init complete" not in preparing
    last = az(
        server,
        "online-deployment",
        "get-logs",
        "-n",
        "blue",
        "-e",
        ENDPOINT,
        "-c",
        "inference-server",
        "--lines",
        "1",
    ).stdout
    assert last.count("\n") == 1 and last.strip() == serving.strip().splitlines()[-1]


def test_endpoint_create_with_a_name_alone_uses_key_auth(server: RunningServer) -> None:
    view = az_json(server, "online-endpoint", "create", "-n", "named-only")
    assert (view["name"], view["auth_mode"], view["local"]) == ("named-only", "key", False)
    refused = az(server, "online-endpoint", "create", ok=False)
    assert refused.exit_code == 1 and "--name" in refused.output
    az(server, "online-endpoint", "delete", "-n", "named-only", "--yes")


def test_local_endpoint_takes_keyless_calls_from_this_machine(
    server: RunningServer, project: SampleProject
) -> None:
    view = az_json(
        server,
        "online-endpoint",
        "create",
        "--local",
        "-n",
        "local-ep",
        "-f",
        str(project.endpoint_yml),
    )
    assert view["local"] is True
    assert view["scoring_uri"].startswith("https://localhost:")
    # Its one deployment gets the traffic, as az's local endpoints serve theirs.
    az(
        server,
        "online-deployment",
        "create",
        "--local",
        "-n",
        "blue",
        "--endpoint",
        "local-ep",
        "-f",
        str(project.blue_yml),
    )
    verify = ssl.create_default_context(cafile=server.ca_bundle)
    answer = httpx.post(
        view["scoring_uri"],
        content=project.request_file.read_bytes(),
        headers={"Content-Type": "application/json"},
        verify=verify,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json() == pytest.approx(project.expected_predictions(1))
    # An endpoint made without --local still wants its key.
    other = az_json(server, "online-endpoint", "show", "-n", ENDPOINT)
    refused = httpx.post(
        other["scoring_uri"],
        content=project.request_file.read_bytes(),
        headers={"Content-Type": "application/json"},
        verify=verify,
        timeout=30,
    )
    assert refused.status_code == 401
    az(server, "online-endpoint", "delete", "--local", "-n", "local-ep", "--yes")


def test_model_and_data_create_from_azs_yaml_with_set(
    server: RunningServer, project: SampleProject, tmp_path: Path
) -> None:
    model_yml = tmp_path / "assets" / "model.yml"
    model_yml.parent.mkdir()
    model_yml.write_text(
        textwrap.dedent(f"""\
        $schema: https://azuremlschemas.azureedge.net/latest/model.schema.json
        name: spell-model
        version: 1
        path: {project.model_file(1).parent}
        type: custom_model
        description: from a file
        tags:
          framework: sklearn
          features: 10
          reviewed: true
        """)
    )
    view = az_json(
        server,
        "model",
        "create",
        "-f",
        str(model_yml),
        "--set",
        "version=7",
        "description=overridden",
    )
    assert (view["name"], view["version"], view["description"]) == (
        "spell-model",
        "7",
        "overridden",
    )
    assert view["tags"] == {"framework": "sklearn", "features": 10, "reviewed": True}
    (tmp_path / "assets" / "rows").mkdir()
    data_yml = tmp_path / "assets" / "data.yml"
    data_yml.write_text("name: spell-data\ntype: uri_folder\npath: rows\ntags: {size: small}\n")
    view = az_json(
        server,
        "data",
        "create",
        "-f",
        str(data_yml),
        "--name",
        "spell-data-2",
        "--tags",
        "owner=me",
        "count=3",
    )
    assert view["name"] == "spell-data-2"
    assert view["path"] == str((tmp_path / "assets" / "rows").resolve())
    assert view["tags"] == {"size": "small", "owner": "me", "count": 3}
    data_yml.write_text("name: x\npaht: rows\n")
    wrong = az(server, "data", "create", "-f", str(data_yml), ok=False)
    assert wrong.exit_code == 1 and "paht: unknown key; did you mean 'path'?" in wrong.output


def test_yaml_and_table_outputs_of_a_real_endpoint(
    server: RunningServer, project: SampleProject
) -> None:
    as_yaml = yaml.safe_load(
        az(server, "online-endpoint", "show", "-n", ENDPOINT, "-o", "yaml").stdout
    )
    assert as_yaml["name"] == ENDPOINT
    lines = az(
        server,
        "online-endpoint",
        "list",
        "-o",
        "table",
        "--query",
        f"[?name=='{ENDPOINT}'].{{name:name, auth:auth_mode}}",
    ).stdout.splitlines()
    assert lines[0].split() == ["Name", "Auth"] and lines[2].split() == [ENDPOINT, "key"]
