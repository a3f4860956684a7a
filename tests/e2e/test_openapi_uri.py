"""An endpoint's openapi_uri through the router: the routed deployment's swagger, with the key."""

from __future__ import annotations

import json
import ssl
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.devserver import RunningServer

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow

ENDPOINT = "openapi-ep"
DECORATED = """
from inference_schema.parameter_types.standard_py_parameter_type import (
    StandardPythonParameterType,
)
from inference_schema.schema_decorators import input_schema, output_schema


def init():
    pass


@input_schema("numbers", StandardPythonParameterType([1.0, 2.0]))
@output_schema(StandardPythonParameterType({"total": 3.0}))
def run(numbers):
    return {"total": sum(numbers), "kind": type(numbers).__name__}
"""
PLAIN = """
def init():
    pass


def run(raw_data):
    return {"green": raw_data}
"""
GREEN_SWAGGER = {"swagger": "2.0", "info": {"title": "green's own", "version": "1"}, "paths": {}}


def write_deployment(root: Path, name: str, script: str, files: dict[str, str]) -> Path:
    code = root / name
    code.mkdir(parents=True)
    (code / "score.py").write_text(textwrap.dedent(script))
    for file_name, text in files.items():
        (code / file_name).write_text(text)
    yml = root / f"{name}.yml"
    yml.write_text(
        f"name: {name}\nendpoint_name: {ENDPOINT}\n"
        f"code_configuration:\n  code: {name}/\n  scoring_script: score.py\n"
        "instance_count: 1\n"
    )
    return yml


@pytest.fixture(scope="module")
def deployed(
    epdev_server: EpdevServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[RunningServer, dict[str, Any], httpx.Client]]:
    pytest.importorskip("inference_schema")
    server = RunningServer.of(epdev_server)
    root = tmp_path_factory.mktemp("openapi")
    (root / "endpoint.yml").write_text(f"name: {ENDPOINT}\nauth_mode: key\n")
    server.cli("online-endpoint", "create", "-f", str(root / "endpoint.yml"))
    blue = write_deployment(root, "blue", DECORATED, {})
    green = write_deployment(root, "green", PLAIN, {"swagger.json": json.dumps(GREEN_SWAGGER)})
    server.cli("online-deployment", "create", "-f", str(blue), "--all-traffic", timeout=300)
    server.cli("online-deployment", "create", "-f", str(green), timeout=300)
    shown = server.cli_json("online-endpoint", "show", "-n", ENDPOINT)
    keys = server.cli_json("online-endpoint", "get-credentials", "-n", ENDPOINT)
    verify: Any = ssl.create_default_context(cafile=server.ca_bundle) if server.ca_bundle else True
    authorization = {"Authorization": f"Bearer {keys['primaryKey']}"}
    with httpx.Client(verify=verify, timeout=30, headers=authorization) as client:
        yield server, shown, client


def test_openapi_uri_returns_the_routed_deployments_document(
    deployed: tuple[RunningServer, dict[str, Any], httpx.Client],
) -> None:
    _, shown, client = deployed
    answer = client.get(shown["openapi_uri"])
    assert answer.status_code == 200, answer.text
    assert answer.headers["azureml-model-deployment"] == "blue"
    document = answer.json()
    assert document["definitions"]["ServiceInput"]["example"] == {"numbers": [1.0, 2.0]}
    three = client.get(shown["openapi_uri"], params={"version": "3"}).json()
    assert three["components"]["schemas"]["ServiceOutput"]["example"] == {"total": 3.0}
    green = client.get(shown["openapi_uri"], headers={"azureml-model-deployment": "green"})
    assert green.json() == GREEN_SWAGGER


def test_openapi_uri_needs_the_key(
    deployed: tuple[RunningServer, dict[str, Any], httpx.Client],
) -> None:
    _, shown, client = deployed
    anonymous = client.get(shown["openapi_uri"], headers={"Authorization": ""})
    assert anonymous.status_code == 401
    wrong = client.get(shown["openapi_uri"], headers={"Authorization": "Bearer not-the-key"})
    assert wrong.status_code == 401


def test_the_scoring_uri_takes_a_get_and_a_decorated_post(
    deployed: tuple[RunningServer, dict[str, Any], httpx.Client],
) -> None:
    _, shown, client = deployed
    posted = client.post(shown["scoring_uri"], json={"numbers": [1, 2, 3.5]})
    assert posted.json() == {"total": 6.5, "kind": "list"}
    got = client.get(shown["scoring_uri"], params={"numbers": "[4, 5]"})
    assert got.json() == {"total": 9, "kind": "list"}
    wrong = client.post(
        shown["scoring_uri"], content=b"[1]", headers={"content-type": "application/json"}
    )
    assert (wrong.status_code, wrong.json()) == (
        400,
        {"message": "POST body should be a JSON dictionary."},
    )
