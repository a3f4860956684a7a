"""The batch jobs view on a real devserver: a real job's progress and log, and a cancel."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from conftest import until
from support.batch_project import (
    BATCH_ENDPOINT_SCHEMA,
    BatchProject,
    deployment_text,
    make_batch_project,
)
from support.devserver import RunningServer, wait_until

from epdev.devserver.client import AsyncClient, Connection
from epdev.devserver.home import Home
from epdev.devserver.pytest_plugin import EpdevServer
from epdev.tui.app import EpdevApp
from epdev.tui.screens.confirm import ConfirmScreen
from epdev.tui.screens.endpoints import EndpointsScreen
from epdev.tui.screens.job_logs import JobLogsScreen
from epdev.tui.screens.jobs import JobsScreen

pytestmark = [pytest.mark.slow, pytest.mark.asyncio]

ENDPOINT = "dash-batch"


@dataclass
class Batch:
    """The session devserver with a batch endpoint whose `slow` deployment sleeps per item."""

    server: RunningServer
    project: BatchProject

    def invoke(self, files: int, name: str) -> str:
        folder = self.project.folder(name, {f"f-{i:03d}.txt": b"x" for i in range(files)})
        args = ["--input", str(folder), "--mini-batch-size", "1"]
        job = self.server.cli_json("batch-endpoint", "invoke", "-n", ENDPOINT, *args)
        return str(job["name"])

    def show(self, name: str) -> dict[str, Any]:
        view: dict[str, Any] = self.server.cli_json("job", "show", "-n", name)
        return view

    def dashboard(self) -> EpdevApp:
        token = Home(self.server.home).admin_token()
        assert token is not None
        connection = Connection(self.server.url, token, self.server.ca_bundle)
        client = AsyncClient(connection)
        return EpdevApp(client, server_url=self.server.url, refresh_seconds=0.2, cwd=Path.cwd())


@pytest.fixture(scope="module")
def batch(epdev_server: EpdevServer, tmp_path_factory: pytest.TempPathFactory) -> Batch:
    project = make_batch_project(tmp_path_factory.mktemp("dash-batch"), csv_files=1)
    endpoint = project.root / "dash-endpoint.yml"
    endpoint.write_text(f"$schema: {BATCH_ENDPOINT_SCHEMA}\nname: {ENDPOINT}\n")
    deployment = project.root / "dash-slow.yml"
    env = "  environment_variables:\n    EPDEV_TEST_SLEEP: '0.2'\n"
    deployment.write_text(deployment_text("slow", endpoint=ENDPOINT, env=env))
    server = RunningServer.of(epdev_server)
    server.cli("apply", "-f", str(endpoint))
    server.cli("batch-deployment", "create", "-f", str(deployment))
    return Batch(server, project)


async def test_a_real_jobs_progress_log_and_cancel(batch: Batch) -> None:
    quick = batch.invoke(6, "quick")
    app = batch.dashboard()
    async with app.run_test(size=(160, 40)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("b")
        jobs: JobsScreen = await until(
            pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen._loaded and app.screen
        )

        def cell(name: str, column: str) -> str:
            return str(jobs.table.get_cell(name, column))

        await until(pilot, lambda: quick in jobs.jobs)
        await until(pilot, lambda: cell(quick, "state") == "Completed", timeout=120)
        assert "6/6" in cell(quick, "progress")
        assert cell(quick, "deployment") == "slow"

        jobs.table.move_cursor(row=jobs.table.get_row_index(quick))
        await pilot.press("l")
        logs = await until(pilot, lambda: isinstance(app.screen, JobLogsScreen) and app.screen)
        status = logs.query_one("#status")
        await until(pilot, lambda: "the job is Completed" in str(status.render()))
        assert logs.query_one("#log").line_count > 0
        await pilot.press("escape")

        long = batch.invoke(300, "long")
        await until(pilot, lambda: long in jobs.jobs)
        await until(pilot, lambda: jobs.jobs[long].status == "Running", timeout=120)
        jobs.table.move_cursor(row=jobs.table.get_row_index(long))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        wait_until(lambda: batch.show(long)["status"] == "Canceled", timeout=60)
        await until(pilot, lambda: cell(long, "state") == "Canceled")
        assert batch.show(long)["progress"]["items_done"] < 300
