"""Batch in the dashboard on fixed data: batch endpoints listed and marked, a job started from
a form, followed, cancelled, and its output opened."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import shown_text, until
from fixed_source import FixedSource
from textual.widgets import Log

from epdev.tui.app import EpdevApp
from epdev.tui.screens.confirm import ConfirmScreen
from epdev.tui.screens.endpoints import BATCH, EndpointsScreen
from epdev.tui.screens.job_output import JobOutputScreen
from epdev.tui.screens.jobs import JobsScreen
from epdev.tui.screens.start_job import StartJobScreen
from epdev.tui.widgets.live_table import LiveTable

pytestmark = pytest.mark.asyncio

MakeApp = Callable[..., EpdevApp]


async def test_batch_endpoints_are_listed_with_the_online_ones(fixed_app: MakeApp) -> None:
    app = fixed_app()
    async with app.run_test(size=(130, 30)) as pilot:
        screen = await until(
            pilot,
            lambda: (
                isinstance(app.screen, EndpointsScreen)
                and app.screen.batch_endpoints
                and app.screen
            ),
        )
        table = screen.query_one("#endpoints", LiveTable)
        await until(pilot, lambda: table.row_count == 5)
        keys = [str(row.key.value) for row in table.ordered_rows]
        assert keys[-2:] == [BATCH + "churn-batch", BATCH + "fraud-batch"]
        assert "batch" in str(table.get_cell(BATCH + "fraud-batch", "name"))
        assert "v1 (default)" in str(table.get_cell(BATCH + "fraud-batch", "traffic"))
        assert "5 endpoints" in shown_text(screen.query_one("#status"))
        table.move_cursor(row=keys.index(BATCH + "fraud-batch"))
        await pilot.press("enter")
        jobs = await until(
            pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen._loaded and app.screen
        )
        shown = [str(r.key.value) for r in jobs.query_one("#jobs", LiveTable).ordered_rows]
        assert shown and all(jobs.jobs[n].endpoint_name == "fraud-batch" for n in shown)


async def test_s_starts_a_job_that_is_followed_and_can_be_cancelled(
    fixed_app: MakeApp, tmp_path: Path
) -> None:
    source = FixedSource()
    app = fixed_app(source, cwd=tmp_path, refresh_seconds=0.1)
    async with app.run_test(size=(130, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("b")
        jobs = await until(
            pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen._loaded and app.screen
        )
        await pilot.press("s")
        await until(pilot, lambda: isinstance(app.screen, StartJobScreen))
        await pilot.press(*"inputs", "tab", "tab", *"7", "enter")
        await until(pilot, lambda: any(c[0] == "invoke_batch" for c in source.calls))
        endpoint, request = next(c[1] for c in source.calls if c[0] == "invoke_batch")
        assert endpoint == "fraud-batch"
        assert request == {
            "input": str(tmp_path / "inputs"),
            "deployment_name": None,
            "mini_batch_size": 7,
        }
        table = jobs.query_one("#jobs", LiveTable)
        await until(pilot, lambda: table.row_count == 6)
        assert table.selected_key() == "job-5"  # newest first: the cursor is on it
        source.jobs["job-5"].status = "Running"
        progress = source.jobs["job-5"].progress
        progress.items_total, progress.items_done = 10, 4
        await until(pilot, lambda: "4/10" in str(table.get_cell("job-5", "progress")))
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")
        await until(pilot, lambda: source.jobs["job-5"].status == "Canceled")


async def test_o_shows_a_jobs_output(fixed_app: MakeApp, tmp_path: Path) -> None:
    source = FixedSource()
    output = tmp_path / "predictions.csv"
    output.write_text("file,score\na.csv,0.9\nb.csv,0.1\n")
    source.jobs["nightly-0430"].outputs.file = str(output)
    app = fixed_app(source)
    async with app.run_test(size=(130, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("b")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen._loaded)
        await pilot.press("ctrl+end", "o")  # nightly-0430
        screen = await until(pilot, lambda: isinstance(app.screen, JobOutputScreen) and app.screen)
        log = screen.query_one("#output", Log)
        await until(pilot, lambda: log.line_count == 3)
        assert list(log.lines) == ["file,score", "a.csv,0.9", "b.csv,0.1"]
