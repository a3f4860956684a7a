"""Schemathesis against the control plane's OpenAPI schema: no request it makes gets a 5xx, and
`st run --checks all` finds nothing the schema does not declare.

A devserver of its own (the calls create and delete things), the admin token on every call, and
a bounded number of examples per operation (EPDEV_FUZZ_EXAMPLES, 20 by default).

Random names: `st run --checks all` (the last test) fuzzes every route with them, its
not_a_server_error check included, except the followed logs, which never end; the in-process
fuzzer covers those. Real names: the in-process fuzzer covers every route.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from support.devserver import RunningServer, running_server
from support.sample_project import make_sample_project

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fuzzed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    with running_server(tmp_path_factory.mktemp("home")) as server:
        # Something to find: an endpoint with a running deployment.
        project = make_sample_project(tmp_path_factory.mktemp("p"), endpoint="fuzz-ep")
        server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
        server.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
        yield server


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    """One keep-alive session for every case: a TLS handshake per call cost more CPU, on both
    ends, than the calls themselves."""
    with requests.Session() as session:
        yield session


@pytest.fixture(scope="module")
def control_schema(fuzzed_server: RunningServer) -> Any:
    with fuzzed_server.api() as api:
        raw = api.get("/openapi.json").json()
    return schemathesis.openapi.from_dict(raw)


schema = schemathesis.pytest.from_fixture("control_schema")


# The routes `st run` below leaves out; it gives every other one the same examples and checks.
@schema.include(path_regex="/logs$").parametrize()
@settings(
    max_examples=int(os.environ.get("EPDEV_FUZZ_EXAMPLES", "20")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error(
    case: Any, fuzzed_server: RunningServer, session: requests.Session
) -> None:
    response = case.call(
        base_url=fuzzed_server.url,
        session=session,
        headers={"Authorization": f"Bearer {fuzzed_server.admin_token}"},
        verify=fuzzed_server.ca_bundle,
        timeout=30,
    )
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}: "
        f"{response.status_code} {response.text[:500]}"
    )


@schema.parametrize()
@settings(
    max_examples=int(os.environ.get("EPDEV_FUZZ_EXAMPLES", "20")),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_server_error_on_the_running_deployment(
    case: Any, fuzzed_server: RunningServer, session: requests.Session
) -> None:
    # Random names find nothing; the same fuzzed queries and bodies against the endpoint and
    # deployment that exist reach the code behind the lookups. Deleting them would end that.
    if case.method == "DELETE" or not case.path_parameters:
        return
    names = {"endpoint": "fuzz-ep", "name": "blue" if "{endpoint}" in case.path else "fuzz-ep"}
    case.path_parameters = {k: names.get(k, v) for k, v in case.path_parameters.items()}
    if case.path.endswith("/logs"):
        # A followed log never ends on its own.
        case.query = {**(case.query or {}), "follow": "false"}
    response = case.call(
        base_url=fuzzed_server.url,
        session=session,
        headers={"Authorization": f"Bearer {fuzzed_server.admin_token}"},
        verify=fuzzed_server.ca_bundle,
        timeout=60,
    )
    assert response.status_code < 500, (
        f"{case.method} {case.formatted_path} query={case.query} body={case.body!r}: "
        f"{response.status_code} {response.text[:500]}"
    )


def test_every_check_passes(fuzzed_server: RunningServer, tmp_path: Path) -> None:
    """`st run --checks all`: coverage, fuzzing and stateful phases; no 5xx, no status or body
    the schema does not declare, 405 with the right Allow, auth enforced. Followed logs never
    end, so their route is left to the two tests above.

    Last in the module, on the same devserver: its stateful phase creates and deletes what it
    likes, once the tests above are done with the running deployment."""
    server = fuzzed_server
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "schemathesis.cli",
            "--config-file",
            str(Path(__file__).with_name("schemathesis.toml")),
            "run",
            f"{server.url}/openapi.json",
            "--checks",
            "all",
            "--header",
            f"Authorization: Bearer {server.admin_token}",
            "--tls-verify",
            str(server.ca_bundle),
            "--max-examples",
            os.environ.get("EPDEV_FUZZ_EXAMPLES", "20"),
            "--request-timeout",
            "30",
            "--exclude-path-regex",
            "/logs$",
            "--report-dir",
            str(tmp_path),
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=900,
        cwd=tmp_path,  # its cache folder (.schemathesis) goes there, not into the checkout
    )
    summary = result.stdout[result.stdout.find("FAILURES") :] or result.stdout[-6000:]
    assert result.returncode == 0, summary[:20000] + result.stderr[-2000:]
