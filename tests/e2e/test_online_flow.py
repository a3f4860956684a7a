"""The user's flow from the issue, end to end: real devserver subprocess, real HTTPS, real CLI."""

from __future__ import annotations

import json
import math
import os
import signal
from collections import Counter
from pathlib import Path

import psutil
import pytest
import requests
from support.devserver import RunningServer, start_server, wait_until
from support.sample_project import SAMPLE_REQUEST, SampleProject, make_sample_project

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> SampleProject:
    return make_sample_project(tmp_path_factory.mktemp("project"))


@pytest.fixture(scope="module")
def server(epdev_server: EpdevServer) -> RunningServer:
    """The session devserver of epdev's own pytest plugin (we use what we ship)."""
    return RunningServer.of(epdev_server)


@pytest.fixture(scope="module")
def deployed(server: RunningServer, project: SampleProject) -> RunningServer:
    """The issue's command sequence, run once; later tests build on its result."""
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    server.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
    return server


def _close(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(
        math.isclose(x, y, rel_tol=1e-9) for x, y in zip(a, b, strict=True)
    )


def _key(server: RunningServer, which: str = "primaryKey") -> str:
    return str(
        server.cli_json("online-endpoint", "get-credentials", "--name", "my-endpoint")[which]
    )


def _uri(server: RunningServer) -> str:
    return str(server.cli_json("online-endpoint", "show", "--name", "my-endpoint")["scoring_uri"])


def test_invoke_returns_the_models_predictions(
    deployed: RunningServer, project: SampleProject
) -> None:
    out = deployed.cli(
        "online-endpoint",
        "invoke",
        "--name",
        "my-endpoint",
        "--request-file",
        str(project.request_file),
    )
    assert _close(json.loads(out.stdout), project.expected_predictions(1))


def test_instances_listen_on_a_private_unix_socket_not_a_port(deployed: RunningServer) -> None:
    workers = [
        child
        for child in psutil.Process(deployed.pid).children()
        if "epdev.runtimes.worker" in " ".join(child.cmdline())
    ]
    assert workers
    for worker in workers:
        assert not [c for c in worker.net_connections("tcp") if c.status == psutil.CONN_LISTEN]
        paths = [str(c.laddr) for c in worker.net_connections("unix") if c.laddr]
        sockets = [Path(p) for p in paths if p.endswith(".sock")]
        assert sockets, paths
        # Only this user may connect: the sockets' folder is private.
        assert all(s.parent.stat().st_mode & 0o077 == 0 for s in sockets)


def test_show_reports_uri_traffic_and_state(deployed: RunningServer) -> None:
    view = deployed.cli_json("online-endpoint", "show", "--name", "my-endpoint")
    assert view["scoring_uri"].startswith("https://")
    assert view["scoring_uri"].endswith("/endpoints/my-endpoint/score")
    assert view["traffic"]["blue"] == 100
    assert view["provisioning_state"] == "Succeeded"
    deployment = deployed.cli_json("online-deployment", "show", "-n", "blue", "-e", "my-endpoint")
    assert deployment["provisioning_state"] == "Succeeded"
    assert deployment["request_settings"]["request_timeout_ms"] == 5000
    assert deployment["instance_type"] == "Standard_DS3_v2"


def test_green_split_header_targeting_and_logs(
    deployed: RunningServer, project: SampleProject
) -> None:
    deployed.cli("online-deployment", "create", "-f", str(project.green_yml))
    deployed.cli(
        "online-endpoint", "update", "--name", "my-endpoint", "--traffic", "blue=90 green=10"
    )
    out = deployed.cli(
        "online-endpoint",
        "invoke",
        "--name",
        "my-endpoint",
        "--deployment-name",
        "green",
        "--request-file",
        str(project.request_file),
    )
    assert _close(json.loads(out.stdout), project.expected_predictions(2))

    # From the user's own code, over HTTPS, trusting epdev's CA.
    key, uri = _key(deployed), _uri(deployed)
    served: Counter[str] = Counter()
    with requests.Session() as session:
        for _ in range(400):
            r = session.post(
                uri,
                json=SAMPLE_REQUEST,
                headers={"Authorization": f"Bearer {key}"},
                verify=deployed.ca_bundle,
                timeout=30,
            )
            assert r.status_code == 200, r.text
            which = r.headers["azureml-model-deployment"]
            expected = project.expected_predictions(1 if which == "blue" else 2)
            assert _close(r.json(), expected)
            served[which] += 1
    # 10% of 400 is 40 with a standard deviation of 6: allow 4.5 of them either side.
    assert 13 <= served["green"] <= 67, served
    assert served["blue"] + served["green"] == 400

    logs = deployed.cli(
        "online-deployment",
        "get-logs",
        "--name",
        "blue",
        "--endpoint-name",
        "my-endpoint",
        "--lines",
        "50",
    ).stdout
    lines = logs.splitlines()
    assert 0 < len(lines) <= 50
    assert any("blue-0" in line and "request received" in line for line in lines)
    assert key not in logs


def test_header_reaches_a_deployment_at_zero_percent(
    deployed: RunningServer, project: SampleProject
) -> None:
    deployed.cli(
        "online-endpoint", "update", "--name", "my-endpoint", "--traffic", "blue=100 green=0"
    )
    key, uri = _key(deployed), _uri(deployed)
    r = requests.post(
        uri,
        json=SAMPLE_REQUEST,
        verify=deployed.ca_bundle,
        timeout=30,
        headers={"Authorization": f"Bearer {key}", "azureml-model-deployment": "green"},
    )
    assert r.status_code == 200
    assert r.headers["azureml-model-deployment"] == "green"
    assert _close(r.json(), project.expected_predictions(2))


def test_request_id_is_echoed(deployed: RunningServer) -> None:
    r = requests.post(
        _uri(deployed),
        json=SAMPLE_REQUEST,
        verify=deployed.ca_bundle,
        timeout=30,
        headers={"Authorization": f"Bearer {_key(deployed)}", "x-request-id": "abc-123"},
    )
    assert r.headers["x-request-id"] == "abc-123"


def test_key_rotation(deployed: RunningServer) -> None:
    uri = _uri(deployed)
    old = deployed.cli_json("online-endpoint", "get-credentials", "--name", "my-endpoint")

    def call(key: str) -> int:
        return requests.post(
            uri,
            json=SAMPLE_REQUEST,
            verify=deployed.ca_bundle,
            timeout=30,
            headers={"Authorization": f"Bearer {key}"},
        ).status_code

    assert call(old["primaryKey"]) == 200
    assert call(old["secondaryKey"]) == 200
    new = deployed.cli_json(
        "online-endpoint", "regenerate-keys", "--name", "my-endpoint", "--key-type", "primary"
    )
    assert new["primaryKey"] != old["primaryKey"]
    assert new["secondaryKey"] == old["secondaryKey"]
    assert call(old["primaryKey"]) == 401
    assert call(new["primaryKey"]) == 200
    assert call(old["secondaryKey"]) == 200


@pytest.mark.parametrize(
    ("headers", "body", "status", "fragment"),
    [
        ({}, b"{}", 401, "missing credentials"),
        ({"Authorization": "Bearer not-the-key"}, b"{}", 401, "not valid"),
        ({"Authorization": "Basic abc"}, b"{}", 401, "missing credentials"),
    ],
)
def test_bad_credentials(
    deployed: RunningServer, headers: dict[str, str], body: bytes, status: int, fragment: str
) -> None:
    r = requests.post(
        _uri(deployed), data=body, headers=headers, verify=deployed.ca_bundle, timeout=30
    )
    assert r.status_code == status
    assert fragment in r.json()["message"]


def test_non_utf8_body_and_missing_endpoint(deployed: RunningServer) -> None:
    key, uri = _key(deployed), _uri(deployed)
    r = requests.post(
        uri,
        data=b"\xff\xfe\xfa",
        verify=deployed.ca_bundle,
        timeout=30,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    assert r.status_code == 400
    assert "UTF-8" in r.json()["message"]
    r = requests.post(
        uri.replace("my-endpoint", "nope-endpoint"),
        data=b"{}",
        verify=deployed.ca_bundle,
        timeout=30,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 404
    assert "nope-endpoint" in r.json()["message"]


def test_plain_https_without_our_ca_is_rejected(deployed: RunningServer) -> None:
    with pytest.raises(requests.exceptions.SSLError):
        requests.post(_uri(deployed), json={}, timeout=30, verify=True)


def test_cli_errors_are_one_line(deployed: RunningServer, tmp_path: Path) -> None:
    result = deployed.cli("online-endpoint", "show", "--name", "no-such-endpoint", check=False)
    assert result.returncode != 0
    assert result.stderr.strip().count("\n") == 0
    assert "no-such-endpoint" in result.stderr
    result = deployed.cli(
        "online-endpoint",
        "update",
        "--name",
        "my-endpoint",
        "--traffic",
        "blue=60 green=10",
        check=False,
    )
    assert result.returncode != 0
    assert "add up to 100" in result.stderr
    assert (
        deployed.cli_json("online-endpoint", "show", "-n", "my-endpoint")["traffic"]["blue"] == 100
    )


def test_kill_9_and_restart_restores_everything(tmp_path: Path, project: SampleProject) -> None:
    home = tmp_path / "home"
    server = start_server(home)
    try:
        server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
        server.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
        server.cli("online-deployment", "create", "-f", str(project.green_yml))
        server.cli(
            "online-endpoint", "update", "-n", "my-endpoint", "--traffic", "blue=70 green=30"
        )
        keys = server.cli_json("online-endpoint", "get-credentials", "-n", "my-endpoint")
        workers = [p for p in psutil.Process(server.pid).children(recursive=True)]
        assert workers

        server.kill(signal.SIGKILL)
        # The instances notice their parent is gone and leave; none is leaked.
        wait_until(
            lambda: not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in workers),
            timeout=15,
        )

        server = start_server(home)
        view = server.cli_json("online-endpoint", "show", "-n", "my-endpoint")
        assert view["traffic"] == {"blue": 70, "green": 30}
        assert server.cli_json("online-endpoint", "get-credentials", "-n", "my-endpoint") == keys
        for name in ("blue", "green"):
            wait_until(
                lambda n=name: (
                    server.cli_json("online-deployment", "show", "-n", n, "-e", "my-endpoint")[
                        "provisioning_state"
                    ]
                    == "Succeeded"
                ),
                timeout=60,
            )
        r = requests.post(
            view["scoring_uri"],
            json=SAMPLE_REQUEST,
            verify=server.ca_bundle,
            timeout=30,
            headers={"Authorization": f"Bearer {keys['primaryKey']}"},
        )
        assert r.status_code == 200
    finally:
        server.cli("stop", check=False)
    assert not (home / "server.json").exists()
    assert os.stat(home / "admin-token").st_mode & 0o077 == 0
    assert os.stat(home / "tls" / "ca-key.pem").st_mode & 0o077 == 0
