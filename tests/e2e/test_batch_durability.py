"""Batch jobs survive a kill -9 of the devserver, and run the same on a real Dask cluster."""

from __future__ import annotations

import csv
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
from support.batch_jobs import finished, job_view
from support.batch_project import BatchProject, make_batch_project
from support.devserver import RunningServer, running_server, start_server, wait_until

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> BatchProject:
    return make_batch_project(tmp_path_factory.mktemp("batch"), csv_files=10, csv_rows=40)


def _setup(server: RunningServer, project: BatchProject, *scripts: str) -> None:
    server.cli("batch-endpoint", "create", "-f", str(project.endpoint_yml))
    for script in scripts:
        server.cli("batch-deployment", "create", "-f", str(project.deployment_yml(script)))


def _workers_of(folder: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "epdev.runtimes.worker.batch" in cmdline and str(folder) in cmdline:
            found.append(proc)
    return found


def test_kill_9_mid_job_resumes_with_every_item_once(project: BatchProject, tmp_path: Path) -> None:
    home = tmp_path / "home"
    files = {f"item-{i:03d}.txt": b"x" for i in range(40)}
    folder = project.folder("resume", files)
    server = start_server(home)
    try:
        _setup(server, project, "slow")
        job = server.cli_json(
            "batch-endpoint",
            "invoke",
            "-n",
            "batch-sample",
            "--input",
            str(folder),
            "--job-name",
            "resumable",
            "--mini-batch-size",
            "1",
            "--instance-count",
            "1",
        )
        wait_until(
            lambda: job_view(server, "resumable")["progress"]["minibatches_done"] >= 5,
            timeout=120,
        )
        server.kill()
        job_folder = Path(job["job_folder"])
        # The workers notice their devserver is gone and leave.
        wait_until(lambda: not _workers_of(job_folder), timeout=30)
    except BaseException:
        server.kill()
        raise
    with running_server(home) as again:
        view = finished(again, "resumable")
        assert view["status"] == "Completed", view["error"]
        assert view["progress"]["items_done"] == 40
        assert view["progress"]["minibatches_done"] == 40
        lines = Path(view["outputs"]["file"]).read_text().splitlines()
        assert Counter(lines) == Counter({name: 1 for name in files})
        log = (job_folder / "logs" / "job.log").read_text()
        assert "devserver restarted" in log
        assert "resuming:" in log


@pytest.fixture(scope="module")
def dask_cluster() -> Iterator[str]:
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    try:
        yield str(cluster.scheduler_address)
    finally:
        cluster.close()


def test_dask_engine_gives_the_local_engines_output(
    project: BatchProject, tmp_path: Path, dask_cluster: str
) -> None:
    with running_server(tmp_path / "home", "--dask-scheduler", dask_cluster) as server:
        _setup(server, project, "tabular", "picky")
        outputs = {}
        for engine in ("local", "dask"):
            job = server.cli_json(
                "batch-endpoint",
                "invoke",
                "-n",
                "batch-sample",
                "-d",
                "tabular",
                "--input",
                str(project.csv_dir),
                "--engine",
                engine,
            )
            view = finished(server, job["name"])
            assert view["status"] == "Completed", view["error"]
            assert view["engine"] == engine
            outputs[engine] = sorted(Path(view["outputs"]["file"]).read_text().splitlines())
        assert len(outputs["dask"]) == 10 * 40
        assert outputs["dask"] == outputs["local"]
        assert len({row[0] for row in csv.reader(outputs["dask"])}) == 10

        bad = project.folder("dask-bad", {"bad-1.txt": b"x", "bad-2.txt": b"x", "ok.txt": b"x"})
        job = server.cli_json(
            "batch-endpoint",
            "invoke",
            "-n",
            "batch-sample",
            "-d",
            "picky",
            "--input",
            str(bad),
            "--engine",
            "dask",
            "--mini-batch-size",
            "1",
            "--instance-count",
            "1",
            "--set",
            "error_threshold=1",
            "--set",
            "retry_settings.max_retries=1",
        )
        view = finished(server, job["name"])
        assert view["status"] == "Failed"
        assert "more than the error_threshold of 1" in view["error"]
        log = (Path(view["job_folder"]) / "logs" / "job.log").read_text()
        assert "attempt 2 failed: ValueError: cannot score bad-" in log


def test_dask_engine_needs_a_scheduler(project: BatchProject, tmp_path: Path) -> None:
    with running_server(tmp_path / "home") as server:
        _setup(server, project, "listing")
        result = server.cli(
            "batch-endpoint",
            "invoke",
            "-n",
            "batch-sample",
            "--input",
            str(project.images_dir),
            "--engine",
            "dask",
            check=False,
        )
        assert result.returncode == 1
        assert "engine dask needs a Dask scheduler" in result.stderr
