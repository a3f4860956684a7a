"""Names that try to step into another resource's URL (issue 19, item 9): the CLI refuses them in
one line before sending, and the API refuses them with a 400 that names the field."""

from __future__ import annotations

import http.client
import json
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from support.batch_project import make_batch_project
from support.devserver import RunningServer, running_server
from support.sample_project import make_sample_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("home")) as running:
        project = make_sample_project(tmp_path_factory.mktemp("p"), endpoint="ep-bad")
        running.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
        running.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
        for name in ("ep-a", "ep-b"):
            running.cli("online-endpoint", "create", "-f", str(project.endpoint_yml), "-n", name)
        batch = make_batch_project(tmp_path_factory.mktemp("b"), csv_files=1, csv_rows=2)
        running.cli("batch-endpoint", "create", "-f", str(batch.endpoint_yml))
        running.cli("batch-deployment", "create", "-f", str(batch.deployment_yml("listing")))
        yield running


def _everything(server: RunningServer) -> Any:
    with server.api() as api:
        paths = (
            "/api/v1/online-endpoints",
            "/api/v1/online-endpoints/ep-bad/deployments",
            "/api/v1/batch-endpoints/batch-sample/deployments",
            "/api/v1/online-endpoints/ep-b/list-keys",
        )
        found = [api.request("POST" if p.endswith("keys") else "GET", p).json() for p in paths]
    return [sorted(entry["name"] for entry in listed) for listed in found[:3]], found[3]


@pytest.mark.parametrize(
    "args",
    [
        ("online-endpoint", "delete", "-n", "ep-bad/deployments/blue", "--yes"),
        ("online-endpoint", "get-credentials", "-n", "ep-a/../ep-b"),
        ("online-endpoint", "show", "-n", "ep-a?x=1"),
        ("online-endpoint", "show", "-n", "ep-a%2Fb"),
        ("online-endpoint", "get-credentials", "-n", ".."),
        ("online-deployment", "delete", "-e", "ep-bad", "-n", "../../ep-a", "--yes"),
        ("batch-endpoint", "delete", "-n", "batch-sample/deployments/listing", "--yes"),
        ("job", "show", "-n", "../online-endpoints/ep-b"),
    ],
)
def test_the_cli_refuses_names_that_leave_their_segment(
    server: RunningServer, args: tuple[str, ...]
) -> None:
    before = _everything(server)
    keys_of_b = before[1]
    result = server.cli(*args, check=False)
    assert result.returncode != 0
    assert "is not valid" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert keys_of_b["primaryKey"] not in result.stdout + result.stderr
    assert _everything(server) == before


def _raw(server: RunningServer, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """The path exactly as written: no client normalises or quotes it."""
    host, port = server.url.removeprefix("https://").rsplit(":", 1)
    context = ssl.create_default_context(cafile=server.ca_bundle)
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=30)
    try:
        headers = {"Authorization": f"Bearer {server.admin_token}"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=data, headers=headers)
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("method", "path", "field"),
    [
        ("DELETE", "/api/v1/online-endpoints/ep-bad%2Fdeployments%2Fblue", "%2F"),
        ("POST", "/api/v1/online-endpoints/ep-a%2F..%2Fep-b/list-keys", "%2F"),
        ("POST", "/api/v1/online-endpoints/%2E%2E/list-keys", "path.name"),
        ("GET", "/api/v1/online-endpoints/ep-a%3Fx%3D1", "path.name"),
        ("GET", "/api/v1/online-endpoints/ep-a%252Fb", "path.name"),
        ("DELETE", "/api/v1/online-endpoints/ep-bad/deployments/..", "path.name"),
        ("GET", "/api/v1/jobs/..", "path.name"),
        ("GET", "/api/v1/jobs?endpoint=..%2Fx", "query.endpoint"),
        ("GET", "/api/v1/models/%2E%2E/versions/latest", "path.name"),
    ],
)
def test_the_api_refuses_names_that_do_not_match(
    server: RunningServer, method: str, path: str, field: str
) -> None:
    before = _everything(server)
    status, body = _raw(server, method, path)
    assert status == 400, body
    assert body["error"]["code"] == "BadRequest"
    assert field in body["error"]["message"]
    assert "primaryKey" not in json.dumps(body)
    assert _everything(server) == before


@pytest.mark.parametrize(
    ("method", "path", "body", "field"),
    [
        (
            "POST",
            "/api/v1/batch-endpoints/batch-sample/jobs",
            {"input": "/tmp", "deployment_name": "../listing"},
            "body.deployment_name",
        ),
        (
            "POST",
            "/api/v1/batch-endpoints/batch-sample/jobs",
            {"input": "/tmp", "job_name": "a/../b"},
            "body.job_name",
        ),
        (
            "PATCH",
            "/api/v1/batch-endpoints/batch-sample",
            {"default_deployment": "listing?x=1"},
            "body.default_deployment",
        ),
        ("PATCH", "/api/v1/online-endpoints/ep-bad", {"traffic": {"a/b": 100}}, "body.traffic"),
        ("POST", "/api/v1/models", {"name": "..", "path": "/tmp"}, "body.name"),
    ],
)
def test_the_api_refuses_bad_names_in_bodies(
    server: RunningServer, method: str, path: str, body: Any, field: str
) -> None:
    before = _everything(server)
    status, answer = _raw(server, method, path, body)
    assert status == 400, answer
    assert field in answer["error"]["message"]
    assert _everything(server) == before
