"""The rest of the CLI and HTTP surface against a real devserver: apply, formats, errors."""

from __future__ import annotations

import json
import shutil
import textwrap
from pathlib import Path

import httpx
import pytest
import requests
import yaml
from support.devserver import RunningServer, running_server
from support.sample_project import SAMPLE_REQUEST, make_sample_project

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(epdev_server: EpdevServer) -> RunningServer:
    """The session devserver of epdev's own pytest plugin (we use what we ship)."""
    return RunningServer.of(epdev_server)


def _endpoints(server: RunningServer) -> list[str]:
    return [e["name"] for e in server.cli_json("online-endpoint", "list")]


def test_apply_folder_dry_run_then_real_then_idempotent(
    server: RunningServer, tmp_path: Path
) -> None:
    project = make_sample_project(tmp_path / "p", endpoint="apply-ep")
    endpoint_yml = project.endpoint_yml
    endpoint_yml.write_text(endpoint_yml.read_text() + "traffic:\n  blue: 80\n  green: 20\n")

    dry = server.cli("apply", "-f", str(project.sample_dir), "--dry-run")
    assert "create online-endpoint apply-ep (dry run)" in dry.stdout
    assert "create online-deployment apply-ep/green (dry run)" in dry.stdout
    assert "apply-ep" not in _endpoints(server)

    server.cli("apply", "-f", str(project.sample_dir))
    view = server.cli_json("online-endpoint", "show", "-n", "apply-ep")
    assert view["traffic"] == {"blue": 80, "green": 20}
    pids = {
        d["name"]: d["ready_instances"]
        for d in server.cli_json("online-deployment", "list", "-e", "apply-ep")
    }
    assert pids == {"blue": 1, "green": 1}

    before = server.cli("online-deployment", "get-logs", "-n", "blue", "-e", "apply-ep").stdout
    again = server.cli("apply", "-f", str(project.sample_dir))
    assert "update online-deployment apply-ep/blue" in again.stdout
    after = server.cli("online-deployment", "get-logs", "-n", "blue", "-e", "apply-ep").stdout
    # Nothing changed, so nothing restarted.
    assert after.count("starting 1 instance") == before.count("starting 1 instance") == 1


def test_apply_with_one_bad_file_changes_nothing(server: RunningServer, tmp_path: Path) -> None:
    project = make_sample_project(tmp_path / "p", endpoint="broken-apply")
    green = project.green_yml
    green.write_text(green.read_text().replace("instance_count:", "instance_cont:"))
    result = server.cli("apply", "-f", str(project.sample_dir), check=False)
    assert result.returncode == 1
    assert "green-deployment.yml:" in result.stderr
    assert "did you mean 'instance_count'" in result.stderr
    assert "broken-apply" not in _endpoints(server)


def test_apply_refuses_a_split_naming_an_unknown_deployment_before_changing_anything(
    server: RunningServer, tmp_path: Path
) -> None:
    project = make_sample_project(tmp_path / "p", endpoint="ghost-apply")
    endpoint_yml = project.endpoint_yml
    endpoint_yml.write_text(
        endpoint_yml.read_text() + "traffic:\n  blue: 100\nmirror_traffic:\n  ghost: 10\n"
    )
    result = server.cli("apply", "-f", str(project.sample_dir), check=False)
    assert result.returncode == 1
    assert (
        "mirror_traffic names deployment(s) 'ghost' that endpoint 'ghost-apply' does not have"
        in result.stderr
    )
    assert "ghost-apply" not in _endpoints(server)


def test_malformed_yaml_through_the_cli_is_one_line_and_changes_nothing(
    server: RunningServer, tmp_path: Path
) -> None:
    bad = tmp_path / "endpoint.yml"
    bad.write_text("name: fine-name\nauth_mode: key\ntraffic: [unclosed\n")
    before = _endpoints(server)
    result = server.cli("online-endpoint", "create", "-f", str(bad), check=False)
    assert result.returncode == 1
    assert result.stderr.startswith("error: ")
    assert f"{bad}:" in result.stderr
    assert "invalid YAML" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert _endpoints(server) == before


def test_no_traffic_anywhere_is_a_clear_404(server: RunningServer, tmp_path: Path) -> None:
    project = make_sample_project(tmp_path / "p", endpoint="quiet-ep")
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    server.cli("online-deployment", "create", "-f", str(project.blue_yml))
    view = server.cli_json("online-endpoint", "show", "-n", "quiet-ep")
    key = server.cli_json("online-endpoint", "get-credentials", "-n", "quiet-ep")["primaryKey"]
    r = requests.post(
        view["scoring_uri"],
        json=SAMPLE_REQUEST,
        verify=server.ca_bundle,
        timeout=30,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 404
    assert "no deployment of this endpoint has traffic" in r.json()["message"]
    result = server.cli(
        "online-endpoint", "invoke", "-n", "quiet-ep", "-r", str(project.request_file), check=False
    )
    assert result.returncode == 1
    assert "HTTP 404" in result.stderr


def test_script_errors_are_500_with_the_traceback_in_the_logs(
    server: RunningServer, tmp_path: Path
) -> None:
    project = make_sample_project(tmp_path / "p", endpoint="error-ep")
    score = project.code_dir(1) / "score.py"
    score.write_text(
        score.read_text().replace(
            "    data = numpy.array",
            "    if 'boom' in raw_data:\n"
            "        raise ValueError('boom requested')\n"
            "    data = numpy.array",
        )
    )
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    server.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
    view = server.cli_json("online-endpoint", "show", "-n", "error-ep")
    key = server.cli_json("online-endpoint", "get-credentials", "-n", "error-ep")["primaryKey"]
    r = requests.post(
        view["scoring_uri"],
        json={"boom": 1},
        verify=server.ca_bundle,
        timeout=30,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 500
    assert r.json() == {
        "message": "An unexpected error occurred in scoring script. Check the logs for more info."
    }
    assert r.headers["azureml-model-deployment"] == "blue"
    logs = server.cli("online-deployment", "get-logs", "-n", "blue", "-e", "error-ep").stdout
    assert "ValueError: boom requested" in logs
    # The router and the instance are fine afterwards.
    r = requests.post(
        view["scoring_uri"],
        json=SAMPLE_REQUEST,
        verify=server.ca_bundle,
        timeout=30,
        headers={"Authorization": f"Bearer {key}"},
    )
    assert r.status_code == 200


def test_two_instances_share_the_load(server: RunningServer, tmp_path: Path) -> None:
    project = make_sample_project(tmp_path / "p", endpoint="multi-ep", instances=2)
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    view = server.cli_json(
        "online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic"
    )
    assert view["ready_instances"] == 2
    uri = server.cli_json("online-endpoint", "show", "-n", "multi-ep")["scoring_uri"]
    key = server.cli_json("online-endpoint", "get-credentials", "-n", "multi-ep")["primaryKey"]
    with requests.Session() as session:
        for _ in range(20):
            r = session.post(
                uri,
                json=SAMPLE_REQUEST,
                verify=server.ca_bundle,
                timeout=30,
                headers={"Authorization": f"Bearer {key}"},
            )
            assert r.status_code == 200
    logs = server.cli("online-deployment", "get-logs", "-n", "blue", "-e", "multi-ep").stdout
    served = [line.split()[1] for line in logs.splitlines() if "request received" in line]
    assert served.count("blue-0") >= 5 and served.count("blue-1") >= 5, served


def test_update_with_set_scales_and_delete_rules(server: RunningServer, tmp_path: Path) -> None:
    project = make_sample_project(tmp_path / "p", endpoint="scale-ep")
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    server.cli("online-deployment", "create", "-f", str(project.blue_yml), "--all-traffic")
    view = server.cli_json(
        "online-deployment", "update", "-n", "blue", "-e", "scale-ep", "--set", "instance_count=2"
    )
    assert view["instance_count"] == 2 and view["ready_instances"] == 2
    refused = server.cli(
        "online-deployment", "delete", "-n", "blue", "-e", "scale-ep", "--yes", check=False
    )
    assert refused.returncode == 1 and "100% of endpoint 'scale-ep'" in refused.stderr
    server.cli("online-endpoint", "delete", "-n", "scale-ep", "--yes")
    assert "scale-ep" not in _endpoints(server)
    missing = server.cli("online-deployment", "show", "-n", "blue", "-e", "scale-ep", check=False)
    assert missing.returncode == 1 and "'scale-ep' does not exist" in missing.stderr


def test_output_formats_and_az_flags(server: RunningServer, tmp_path: Path) -> None:
    project = make_sample_project(tmp_path / "p", endpoint="format-ep")
    server.cli(
        "online-endpoint", "create", "-f", str(project.endpoint_yml), "-g", "my-rg", "-w", "my-ws"
    )
    as_yaml = yaml.safe_load(
        server.cli("online-endpoint", "show", "-n", "format-ep", "-o", "yaml").stdout
    )
    assert as_yaml["name"] == "format-ep" and "scoring_uri" in as_yaml
    table = server.cli("online-endpoint", "list", "-o", "table").stdout.splitlines()
    assert table[0].split()[:2] == ["Name", "Auth"]
    assert any(line.startswith("format-ep ") for line in table)
    as_json = json.loads(server.cli("online-endpoint", "list").stdout)
    assert any(e["name"] == "format-ep" for e in as_json)


def test_control_plane_needs_the_admin_token_and_serves_openapi(server: RunningServer) -> None:
    with server.api() as api:
        assert api.get("/api/v1/online-endpoints").status_code == 200
        anonymous = api.get("/api/v1/online-endpoints", headers={"Authorization": ""})
        assert anonymous.status_code == 401
        assert "admin token" in anonymous.json()["error"]["message"]
        wrong = api.get("/api/v1/online-endpoints", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        schema = api.get("/openapi.json").json()
        assert "/api/v1/online-endpoints" in schema["paths"]
        assert api.get("/api/v1/health").json()["status"] == "ok"


def test_spec_errors_from_the_api_name_the_field(server: RunningServer) -> None:
    with server.api() as api:
        r = api.post(
            "/api/v1/online-endpoints", json={"spec": {"name": "ok-name", "auth_mod": "key"}}
        )
        assert r.status_code == 400
        assert "auth_mod: unknown key; did you mean 'auth_mode'?" in r.json()["error"]["message"]
        r = api.post(
            "/api/v1/online-endpoints",
            content=b"not json",
            headers={"content-type": "application/json"},
        )
        assert r.status_code == 400


def test_insecure_http_mode(tmp_path: Path) -> None:
    with running_server(tmp_path / "home", "--insecure-http") as srv:
        assert srv.url.startswith("http://")
        assert srv.ca_bundle is None
        assert httpx.get(f"{srv.url}/api/v1/health").status_code == 200


def test_stop_is_safe_twice(tmp_path: Path) -> None:
    with running_server(tmp_path / "home") as srv:
        assert "stopped" in srv.cli("stop").stdout
        assert "no devserver was running" in srv.cli("stop").stdout
        shutil.rmtree(tmp_path / "home" / "logs", ignore_errors=True)


def test_scoring_script_without_run_is_refused_by_the_cli(
    server: RunningServer, tmp_path: Path
) -> None:
    project = make_sample_project(tmp_path / "p", endpoint="norun-ep")
    (project.code_dir(1) / "score.py").write_text(
        textwrap.dedent("""\
        def init():
            pass
    """)
    )
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    result = server.cli("online-deployment", "create", "-f", str(project.blue_yml), check=False)
    assert result.returncode == 1
    assert "blue-deployment.yml:" in result.stderr
    assert "does not define run()" in result.stderr
    assert server.cli_json("online-deployment", "list", "-e", "norun-ep") == []


def test_create_and_update_show_provisioning_lines_not_the_scripts(
    server: RunningServer, tmp_path: Path
) -> None:
    project = make_sample_project(tmp_path / "p", endpoint="progress-ep")
    server.cli("online-endpoint", "create", "-f", str(project.endpoint_yml))
    created = server.cli("online-deployment", "create", "-f", str(project.blue_yml))
    assert "  starting 1 instance(s) with the process runtime" in created.stderr
    assert "  all 1 instance(s) ready" in created.stderr
    # The script's own output (init()'s logging) is for get-logs, not the wait.
    assert "Init complete" not in created.stderr
    scaled = server.cli(
        "online-deployment",
        "update",
        "-n",
        "blue",
        "-e",
        "progress-ep",
        "--set",
        "instance_count=2",
    )
    # Only what this update wrote: the create's lines are not repeated.
    assert "starting 1 instance" not in scaled.stderr
    assert "all 2 instance(s) ready" in scaled.stderr
    server.cli("online-endpoint", "delete", "-n", "progress-ep", "--yes")
