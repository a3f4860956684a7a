"""The batch jobs view on fixed data: list, filter, logs that follow until the job ends, cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import until
from fixed_source import FixedSource
from textual.pilot import Pilot

from epdev.devserver.client import ClientError
from epdev.tui.app import EpdevApp
from epdev.tui.screens.confirm import ConfirmScreen
from epdev.tui.screens.endpoints import EndpointsScreen
from epdev.tui.screens.job_logs import JobLogsScreen
from epdev.tui.screens.jobs import JobsScreen
from epdev.tui.widgets.live_table import LiveTable

pytestmark = pytest.mark.asyncio

MakeApp = Callable[..., EpdevApp]
NEWEST_FIRST = ["churn-0501-b", "fraud-0501-a", "churn-0501", "fraud-0430-x", "nightly-0430"]


async def open_jobs(pilot: Pilot[Any]) -> JobsScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
    await pilot.press("b")
    screen: JobsScreen = await until(
        pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen._loaded and app.screen
    )
    return screen


def shown(screen: JobsScreen) -> list[str]:
    table = screen.query_one("#jobs", LiveTable)
    return [str(row.key.value) for row in table.ordered_rows]


def status(screen: Any) -> str:
    return str(screen.query_one("#status").render())


async def test_b_lists_jobs_newest_first_and_slash_filters(fixed_app: MakeApp) -> None:
    app = fixed_app()
    async with app.run_test() as pilot:
        screen = await open_jobs(pilot)
        assert shown(screen) == NEWEST_FIRST
        assert "5 jobs" in status(screen) and "2 queued or running" in status(screen)
        await pilot.press("slash", *"churn", "enter")
        assert shown(screen) == ["churn-0501-b", "churn-0501"]
        assert "2/5 jobs" in status(screen)
        await pilot.press("escape")  # clears the filter first
        assert shown(screen) == NEWEST_FIRST
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen))


async def test_a_failed_jobs_error_shows_when_it_is_selected(fixed_app: MakeApp) -> None:
    app = fixed_app()
    async with app.run_test() as pilot:
        screen = await open_jobs(pilot)
        assert "error_threshold" not in status(screen)
        await pilot.press("down", "down")  # churn-0501, failed
        await until(pilot, lambda: "churn-0501: error_threshold exceeded" in status(screen))
        await pilot.press("down")
        await until(pilot, lambda: "error_threshold" not in status(screen))


async def test_progress_follows_the_devserver(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source, refresh_seconds=0.1)
    async with app.run_test() as pilot:
        screen = await open_jobs(pilot)
        table = screen.query_one("#jobs", LiveTable)
        assert "183/500" in str(table.get_cell("fraud-0501-a", "progress"))
        source.jobs["fraud-0501-a"].progress.items_done = 497
        source.jobs["fraud-0501-a"].status = "Completed"
        await until(pilot, lambda: "500/500" in str(table.get_cell("fraud-0501-a", "progress")))
        assert str(table.get_cell("fraud-0501-a", "state")) == "Completed"


async def test_logs_follow_a_running_job_until_it_ends(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source, refresh_seconds=0.1)
    async with app.run_test() as pilot:
        await open_jobs(pilot)
        await pilot.press("down", "l")  # fraud-0501-a, running
        logs = await until(pilot, lambda: isinstance(app.screen, JobLogsScreen) and app.screen)
        log = logs.query_one("#log")
        await until(pilot, lambda: log.line_count == 30)
        assert "following" in status(logs) and "fraud-0501-a" in status(logs)
        source.job_log_lines["fraud-0501-a"].append("the last mini-batch is done")
        await until(pilot, lambda: log.line_count == 31)
        source.jobs["fraud-0501-a"].status = "Completed"
        await until(pilot, lambda: "the job is Completed" in status(logs))
        await pilot.press("f", *"batch 7")
        await until(pilot, lambda: log.line_count == 1)
        await pilot.press("escape", "escape")
        await until(pilot, lambda: isinstance(app.screen, JobsScreen))


async def test_enter_opens_a_finished_jobs_whole_log(fixed_app: MakeApp) -> None:
    app = fixed_app()
    async with app.run_test() as pilot:
        await open_jobs(pilot)
        await pilot.press("ctrl+end", "enter")  # nightly-0430, completed
        logs = await until(pilot, lambda: isinstance(app.screen, JobLogsScreen) and app.screen)
        await until(pilot, lambda: "the job is Completed" in status(logs))
        assert logs.query_one("#log").line_count == 30


async def test_cancel_asks_first_and_only_running_jobs(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test() as pilot:
        screen = await open_jobs(pilot)
        await pilot.press("down", "c")  # fraud-0501-a
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await until(pilot, lambda: app.screen is screen)
        assert not source.calls
        await pilot.press("c")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(pilot, lambda: source.calls == [("cancel_job", "fraud-0501-a")])
        table = screen.query_one("#jobs", LiveTable)
        await until(pilot, lambda: str(table.get_cell("fraud-0501-a", "state")) == "Canceled")
        await pilot.press("ctrl+end", "c")  # a completed job: nothing to ask
        await pilot.pause(0.1)
        assert app.screen is screen and len(source.calls) == 1


async def test_read_only_cannot_cancel(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source, read_only=True)
    async with app.run_test() as pilot:
        screen = await open_jobs(pilot)
        await pilot.press("down", "c")
        await pilot.pause(0.1)
        assert app.screen is screen and not source.calls
        assert "cancel_job" not in {b.binding.action for b in app.active_bindings.values()}


async def test_a_devserver_without_jobs_says_so(fixed_app: MakeApp) -> None:
    class NoBatch(FixedSource):
        async def list_jobs(self, endpoint: str | None = None) -> list[dict[str, Any]]:
            raise ClientError("HTTP 404: Not Found", 404)

    app = fixed_app(NoBatch())
    async with app.run_test() as pilot:
        screen = await open_jobs(pilot)
        assert "would not list jobs: HTTP 404" in status(screen)
        assert not shown(screen)
        assert not screen.query_one("#banner").display  # it answers: no banner


async def test_no_jobs_yet_says_how_to_start_one(fixed_app: MakeApp) -> None:
    source = FixedSource()
    source.jobs.clear()
    app = fixed_app(source)
    async with app.run_test() as pilot:
        screen = await open_jobs(pilot)
        assert "no jobs yet: s starts one (or `epdev batch-endpoint invoke`)" in status(screen)
        await pilot.press("enter", "l", "c")  # nothing selected: nothing happens
        await pilot.pause(0.1)
        assert app.screen is screen and not source.calls
