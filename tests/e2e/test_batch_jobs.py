"""Batch endpoints end to end: real devserver, real CLI, real worker processes, real model."""

from __future__ import annotations

import csv
import http.server
import json
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest
from support.batch_jobs import finished, job_view
from support.batch_project import BatchProject, make_batch_project
from support.devserver import RunningServer, wait_until

from epdev.devserver.pytest_plugin import EpdevServer

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> BatchProject:
    return make_batch_project(tmp_path_factory.mktemp("batch"))


@pytest.fixture(scope="module")
def server(epdev_server: EpdevServer, project: BatchProject) -> RunningServer:
    server = RunningServer.of(epdev_server)
    applied = server.cli("apply", "-f", str(project.root))  # the endpoint and 6 deployments
    assert "created batch-deployment batch-sample/tabular" in applied.stdout
    return server


def invoke(server: RunningServer, *args: str) -> dict[str, Any]:
    job: dict[str, Any] = server.cli_json("batch-endpoint", "invoke", "-n", "batch-sample", *args)
    return job


def output_lines(view: dict[str, Any]) -> list[str]:
    return Path(view["outputs"]["file"]).read_text().splitlines()


def test_tabular_job_writes_every_row_once(server: RunningServer, project: BatchProject) -> None:
    job = invoke(server, "--deployment-name", "tabular", "--input", str(project.csv_dir))
    assert job["status"] in ("Queued", "Running")
    assert len(job["name"]) == 36  # a GUID
    view = finished(server, job["name"])
    assert view["status"] == "Completed", view["error"]
    assert view["progress"]["items_total"] == 12
    assert view["progress"]["items_done"] == 12
    assert view["progress"]["minibatches_total"] == 6
    rows = list(csv.reader(output_lines(view)))
    assert len(rows) == 12 * 50
    assert Counter((r[0], r[1]) for r in rows) == Counter(
        (f"part-{f:03d}.csv", str(r)) for f in range(12) for r in range(50)
    )
    # The model's prediction, row for row.
    source = list(csv.DictReader((project.csv_dir / "part-003.csv").read_text().splitlines()))
    first = next(r for r in rows if r[0] == "part-003.csv" and r[1] == "0")
    x1, x2 = float(source[0]["x1"]), float(source[0]["x2"])
    assert float(first[2]) == pytest.approx(3 * x1 - 2 * x2 + 0.5, abs=1e-4)
    folder = Path(view["job_folder"])
    assert {p.name for p in (folder / "logs").iterdir()} >= {"job.log", "worker-0.log"}
    assert json.loads((folder / "progress.json").read_text())["status"] == "Completed"
    # Workers are released when the job ends.
    pids = [p for p in psutil.process_iter(["cmdline"]) if _is_batch_worker(p, folder)]
    assert pids == []


def _is_batch_worker(proc: psutil.Process, folder: Path) -> bool:
    cmdline = " ".join(proc.info["cmdline"] or [])
    return "epdev.runtimes.worker.batch" in cmdline and str(folder) in cmdline


def test_list_script_over_image_files_and_download(
    server: RunningServer, project: BatchProject, tmp_path: Path
) -> None:
    job = invoke(
        server,
        "-d",
        "listing",
        "--input",
        str(project.images_dir),
        "--job-name",
        "images-1",
        "--mini-batch-size",
        "4",
        "--set",
        "output_file_name=sizes.txt",
    )
    assert job["name"] == "images-1"
    view = finished(server, "images-1")
    assert view["status"] == "Completed"
    assert view["progress"]["minibatches_total"] == 3
    assert sorted(output_lines(view)) == [f"img-{i:03d}.png,{100 + i}" for i in range(9)]
    assert view["outputs"]["file"].endswith("sizes.txt")
    server.cli("job", "download", "-n", "images-1", "--download-path", str(tmp_path))
    assert (tmp_path / "named-outputs" / "score" / "sizes.txt").is_file()
    table = server.cli("job", "list", "-o", "table").stdout.splitlines()
    assert any("images-1" in line and "Completed" in line and " 9/9 " in line for line in table)
    streamed = server.cli("job", "stream", "-n", "images-1")
    assert "9/9 items" in streamed.stderr
    assert "job completed" in streamed.stdout


def test_summary_only_lets_the_script_write_its_own_files(
    server: RunningServer, project: BatchProject, tmp_path: Path
) -> None:
    job = invoke(
        server, "-d", "summary", "--input", str(project.images_dir), "--output-path", str(tmp_path)
    )
    view = finished(server, job["name"])
    assert view["status"] == "Completed", view["error"]
    assert view["settings"]["output_action"] == "summary_only"
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"img-{i:03d}.png.seen" for i in range(9)]


def _inputs(project: BatchProject, name: str, bad: int, good: int) -> Path:
    files = {f"bad-{i}.txt": b"x" for i in range(bad)}
    files.update({f"good-{i}.txt": b"x" for i in range(good)})
    return project.folder(name, files)


def test_error_threshold_not_crossed(server: RunningServer, project: BatchProject) -> None:
    folder = _inputs(project, "threshold-ok", bad=2, good=6)
    job = invoke(
        server,
        "-d",
        "picky",
        "--input",
        str(folder),
        "--mini-batch-size",
        "1",
        "--set",
        "error_threshold=2",
        "--set",
        "retry_settings.max_retries=0",
    )
    view = finished(server, job["name"])
    assert view["status"] == "Completed"
    assert view["progress"]["items_failed"] == 2
    assert sorted(output_lines(view)) == [f"good-{i}.txt" for i in range(6)]
    errors = (Path(view["job_folder"]) / "errors.txt").read_text()
    assert "ValueError: cannot score bad-0.txt" in errors


def test_error_threshold_crossed_fails_the_job(
    server: RunningServer, project: BatchProject
) -> None:
    folder = _inputs(project, "threshold-crossed", bad=3, good=3)
    job = invoke(
        server,
        "-d",
        "picky",
        "--input",
        str(folder),
        "--mini-batch-size",
        "1",
        "--instance-count",
        "1",
        "--set",
        "error_threshold=1",
        "--set",
        "retry_settings.max_retries=0",
    )
    view = finished(server, job["name"])
    assert view["status"] == "Failed"
    assert "more than the error_threshold of 1" in view["error"]
    result = server.cli("job", "stream", "-n", job["name"], check=False)
    assert result.returncode == 1
    assert "error threshold" in result.stderr or "error_threshold" in result.stderr


def test_retries_recover_a_flaky_script(server: RunningServer, project: BatchProject) -> None:
    folder = _inputs(project, "flaky", bad=0, good=6)
    job = invoke(
        server, "-d", "flaky", "--input", str(folder), "--set", "retry_settings.max_retries=2"
    )
    view = finished(server, job["name"])
    assert view["status"] == "Completed"
    assert view["progress"]["items_failed"] == 0
    assert sorted(output_lines(view)) == [f"good-{i}.txt" for i in range(6)]
    log = server.cli("job", "stream", "-n", job["name"]).stdout
    assert "attempt 1 failed: RuntimeError: flaky: first attempt fails" in log
    worker_log = (Path(view["job_folder"]) / "logs" / "worker-0.log").read_text()
    assert "INFO" in worker_log and "flaky: 2 files" in worker_log  # logging_level info


def test_timeout_retries_then_counts_the_items_failed(
    server: RunningServer, project: BatchProject
) -> None:
    folder = project.folder("timeouts", {"stuck-0.txt": b"x", "fine-0.txt": b"x"})
    job = invoke(
        server,
        "-d",
        "slow",
        "--input",
        str(folder),
        "--mini-batch-size",
        "1",
        "--set",
        "retry_settings.timeout=2",
        "--set",
        "retry_settings.max_retries=1",
    )
    view = finished(server, job["name"])
    assert view["status"] == "Completed"
    assert view["progress"]["items_failed"] == 1
    assert output_lines(view) == ["fine-0.txt"]
    errors = (Path(view["job_folder"]) / "errors.txt").read_text()
    assert "after 2 attempt(s): run() did not finish within the timeout of 2 s" in errors


def test_cancel_stops_the_job_and_its_workers(server: RunningServer, project: BatchProject) -> None:
    folder = project.folder("cancel", {f"f-{i}.txt": b"x" for i in range(200)})
    job = invoke(server, "-d", "slow", "--input", str(folder), "--mini-batch-size", "1")
    wait_until(
        lambda: job_view(server, job["name"])["progress"]["items_done"] > 0,
        timeout=60,
    )
    view = server.cli_json("job", "cancel", "-n", job["name"])
    assert view["status"] == "Canceled"
    assert view["progress"]["items_done"] < 200
    folder_path = Path(view["job_folder"])
    wait_until(
        lambda: (
            not [p for p in psutil.process_iter(["cmdline"]) if _is_batch_worker(p, folder_path)]
        ),
        timeout=30,
    )
    again = server.cli("job", "cancel", "-n", job["name"], check=False)
    assert again.returncode == 1
    assert "already Canceled" in again.stderr


def test_existing_output_file_fails_the_job_before_it_starts(
    server: RunningServer, project: BatchProject, tmp_path: Path
) -> None:
    (tmp_path / "predictions.csv").write_text("keep me\n")
    job = invoke(
        server, "-d", "listing", "--input", str(project.images_dir), "--output-path", str(tmp_path)
    )
    view = finished(server, job["name"])
    assert view["status"] == "Failed"
    assert f"the output file {tmp_path / 'predictions.csv'} already exists" in view["error"]
    assert (tmp_path / "predictions.csv").read_text() == "keep me\n"
    assert view["progress"]["items_total"] == 0  # nothing ran


@pytest.fixture
def http_files(project: BatchProject) -> Iterator[str]:
    handler = _quiet_handler(project.csv_dir)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def _quiet_handler(folder: Path) -> Any:
    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, directory=str(folder), **kwargs)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def test_input_over_loopback_http(server: RunningServer, http_files: str) -> None:
    job = invoke(server, "-d", "tabular", "--input", f"{http_files}/part-005.csv")
    view = finished(server, job["name"])
    assert view["status"] == "Completed", view["error"]
    assert view["inputs"]["type"] == "uri_file"
    rows = list(csv.reader(output_lines(view)))
    assert [r[1] for r in rows] == [str(i) for i in range(50)]
    assert {r[0] for r in rows} == {"part-005.csv"}


def test_registered_data_and_model(
    server: RunningServer, project: BatchProject, tmp_path: Path
) -> None:
    first = server.cli_json(
        "data",
        "create",
        "--name",
        "pictures",
        "--path",
        str(project.images_dir),
        "--type",
        "uri_folder",
    )
    assert first["version"] == "1"
    second = server.cli_json(
        "data",
        "create",
        "--name",
        "pictures",
        "--version",
        "2",
        "--path",
        str(project.images_dir / "img-004.png"),
        "--type",
        "uri_file",
    )
    assert second["id"] == "azureml:pictures:2"
    versions = server.cli_json("data", "list", "--name", "pictures")
    assert [v["version"] for v in versions] == ["1", "2"]
    latest = invoke(server, "-d", "listing", "--input", "azureml:pictures@latest")
    pinned = invoke(server, "-d", "listing", "--input", "azureml:pictures:1")
    assert output_lines(finished(server, latest["name"])) == ["img-004.png,104"]
    assert len(output_lines(finished(server, pinned["name"]))) == 9

    server.cli_json(
        "model",
        "create",
        "--name",
        "linear",
        "--path",
        str(project.root / "model"),
    )
    assert server.cli_json("model", "show", "--name", "linear")["version"] == "1"
    spec = project.deployment_yml("tabular").read_text()
    spec = spec.replace("name: tabular", "name: registered").replace(
        "model:\n  path: model", "model: azureml:linear@latest"
    )
    registered = project.root / "registered.yml"
    registered.write_text(spec)
    server.cli("batch-deployment", "create", "-f", str(registered))
    job = invoke(server, "-d", "registered", "--input", str(project.csv_dir / "part-000.csv"))
    assert len(output_lines(finished(server, job["name"]))) == 50

    missing = server.cli(
        "batch-endpoint",
        "invoke",
        "-n",
        "batch-sample",
        "--input",
        "azureml:nothing@latest",
        check=False,
    )
    assert missing.returncode == 1
    assert "data asset 'nothing' does not exist" in missing.stderr


def test_default_deployment_and_rest(server: RunningServer, project: BatchProject) -> None:
    endpoint = server.cli_json("batch-endpoint", "show", "-n", "batch-sample")
    first = endpoint["deployments"][0]
    assert first == "flaky"  # apply creates them in file order
    assert endpoint["defaults"]["deployment_name"] == first  # the first one created
    server.cli(
        "batch-endpoint",
        "update",
        "-n",
        "batch-sample",
        "--set",
        "defaults.deployment_name=listing",
    )
    try:
        with server.api() as api:
            response = api.post(
                "/api/v1/batch-endpoints/batch-sample/jobs",
                json={"input": str(project.images_dir), "job_name": "over-rest"},
            )
            assert response.status_code == 202, response.text
            assert response.json()["deployment_name"] == "listing"
            bad = api.post(
                "/api/v1/batch-endpoints/batch-sample/jobs",
                json={"input": str(project.images_dir), "set": {"mini_batch_size": 0}},
            )
            assert bad.status_code == 400
            assert "mini_batch_size" in bad.json()["error"]["message"]
        assert finished(server, "over-rest")["status"] == "Completed"
    finally:
        server.cli(
            "batch-endpoint",
            "update",
            "-n",
            "batch-sample",
            "--set",
            f"defaults.deployment_name={first}",
        )
    shown = server.cli_json("batch-deployment", "show", "-n", "tabular", "-e", "batch-sample")
    assert shown["settings"]["mini_batch_size"] == 2
    assert shown["settings"]["output_file_name"] == "predictions.csv"
    assert shown["resources"]["instance_count"] == 2
    assert shown["cloud_only"] == ["compute"]
