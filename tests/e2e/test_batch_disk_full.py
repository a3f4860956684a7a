"""A batch job on a full disk (issue 19, item 10): it fails with that reason, its state and its
log agree, and both are saved once there is space again. The fault is real: the devserver's home
is a small tmpfs that the test fills while a mini-batch runs."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from support.batch_jobs import job_view
from support.batch_project import BatchProject, deployment_text, make_batch_project
from support.devserver import running_server, start_server, wait_until
from support.small_disk import fill, small_tmpfs

pytestmark = pytest.mark.slow

GATED = """\
    import os
    import time
    from pathlib import Path


    def init():
        pass


    def run(mini_batch):
        gate = Path(os.environ["EPDEV_TEST_GATE"])
        (gate.parent / ("entered-" + os.path.basename(mini_batch[0]))).touch()
        while not gate.exists():
            time.sleep(0.05)
        return [os.path.basename(p) + ",scored" for p in mini_batch]
    """


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    with small_tmpfs(tmp_path / "disk", "24m") as mount:
        yield mount


@pytest.fixture
def project(tmp_path: Path) -> BatchProject:
    made = make_batch_project(tmp_path / "batch", csv_files=1, csv_rows=2)
    (made.root / "code" / "gated.py").write_text(textwrap.dedent(GATED))
    env = f"  environment_variables:\n    EPDEV_TEST_GATE: {tmp_path / 'gates' / 'open'}\n"
    made.deployment_yml("gated").write_text(deployment_text("gated", env=env))
    (tmp_path / "gates").mkdir()
    return made


def test_a_full_disk_fails_the_job_with_that_reason(
    small_disk: Path, project: BatchProject, tmp_path: Path
) -> None:
    home = small_disk / "home"
    gates = tmp_path / "gates"
    inputs = project.folder("items", {f"item-{i}.txt": b"x" for i in range(4)})
    filler = small_disk / "filler"
    with running_server(home) as server:
        server.cli("batch-endpoint", "create", "-f", str(project.endpoint_yml))
        server.cli("batch-deployment", "create", "-f", str(project.deployment_yml("gated")))
        server.cli(
            "batch-endpoint",
            "invoke",
            "-n",
            "batch-sample",
            "--input",
            str(inputs),
            "--job-name",
            "full",
            "--mini-batch-size",
            "1",
            "--instance-count",
            "1",
        )
        wait_until(lambda: (gates / "entered-item-0.txt").exists(), timeout=120)
        fill(filler)
        (gates / "open").touch()

        # While the disk is still full, the job already shows how it ended and why.
        failed = wait_until(
            lambda: (view := job_view(server, "full"))["status"] == "Failed" and view, timeout=60
        )
        assert "out of disk space" in failed["error"], failed
        assert failed["creation_context"]["ended_at"] is not None
        # A new job cannot be stored: the call says why, and nothing is left half-made.
        refused = server.cli(
            "batch-endpoint",
            "invoke",
            "-n",
            "batch-sample",
            "--input",
            str(inputs),
            "--job-name",
            "second",
            check=False,
        )
        assert refused.returncode != 0
        assert "out of disk space" in refused.stderr, refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        assert [j["name"] for j in server.cli_json("job", "list")] == ["full"]

        filler.unlink()
        # Once there is space, the log says so too, and the store holds the same state.
        log = wait_until(
            lambda: "job failed: out of disk space" in (text := _job_log(home)) and text,
            timeout=60,
        )
        assert "job completed" not in log
        shown = server.cli_json("job", "show", "-n", "full")
        assert (shown["status"], shown["error"]) == ("Failed", failed["error"])

    # The next start finds it Failed in the store: nothing to resume.
    server = start_server(home)
    try:
        again = job_view(server, "full")
        assert (again["status"], again["error"]) == ("Failed", failed["error"])
        assert "resuming" not in _job_log(home)
    finally:
        server.cli("stop", check=False)
        server.kill()


def _job_log(home: Path) -> str:
    return (home / "jobs" / "full" / "logs" / "job.log").read_text(errors="replace")
