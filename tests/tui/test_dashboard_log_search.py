"""Searching a whole log from the dashboard on fixed data: highlight, n/N, pages, wrap, filter
kept, a job's log, and a failed call's lines found by its x-request-id."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import until
from fixed_source import FixedSource
from textual.pilot import Pilot
from textual.widgets import Log

from epdev.tui.app import EpdevApp
from epdev.tui.screens.endpoint import EndpointScreen
from epdev.tui.screens.endpoints import EndpointsScreen
from epdev.tui.screens.invoke import InvokeScreen
from epdev.tui.screens.job_logs import JobLogsScreen
from epdev.tui.screens.logs import LogsScreen
from epdev.tui.widgets.search_results import HIGHLIGHT, SearchResults

pytestmark = pytest.mark.asyncio

MakeApp = Callable[..., EpdevApp]


def status(screen: Any) -> str:
    return str(screen.query_one("#status").render())


async def open_logs(pilot: Pilot[Any]) -> LogsScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
    await pilot.press("down", "enter")  # fraud-scorer
    await until(pilot, lambda: isinstance(app.screen, EndpointScreen) and app.screen.deployments)
    await pilot.press("l")
    screen: LogsScreen = await until(
        pilot, lambda: isinstance(app.screen, LogsScreen) and app.screen
    )
    await until(pilot, lambda: screen.query_one("#log", Log).line_count == 40)
    return screen


def highlighted(results: SearchResults) -> list[str]:
    return [
        segment.text
        for strip in results.lines
        for segment in strip
        if segment.style is not None
        and segment.style.bgcolor is not None
        and str(segment.style) == HIGHLIGHT
    ]


async def test_slash_searches_the_rotated_lines_with_highlight_and_n(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test(size=(120, 30)) as pilot:
        logs = await open_logs(pilot)
        # The backlog shown holds no start-up line: they rotated out of the file long ago.
        assert not any("init" in line for line in logs.query_one("#log", Log).lines)
        await pilot.press("slash", *"INIT", "enter")
        results = logs.query_one("#results", SearchResults)
        await until(pilot, lambda: len(results.matches) == 2)
        assert results.display and not logs.query_one("#log").display
        assert [m.text.split(" | ")[1] for m in results.matches] == [
            "init() starting",
            "init() done after a restart",
        ]
        assert highlighted(results) == ["init", "init"]
        assert "match 1/2" in status(logs) and "whole log" in status(logs)
        await pilot.press("n")
        assert results.current == 1 and "match 2/2" in status(logs)
        await pilot.press("N")
        assert results.current == 0
        await pilot.press("w")
        assert results.wrap and logs.wrap
        await pilot.press("escape")
        await until(pilot, lambda: logs.query_one("#log").display and not logs.searching)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, EndpointScreen))


async def test_n_past_the_last_match_asks_for_the_next_page(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test(size=(120, 30)) as pilot:
        logs = await open_logs(pilot)
        await pilot.press("slash", *"warm", "enter")
        results = logs.query_one("#results", SearchResults)
        await until(pilot, lambda: len(results.matches) == 200)
        assert results.next_offset is not None and "200+" in status(logs)
        results.go(199)
        await pilot.press("n")
        await until(pilot, lambda: len(results.matches) == 299)
        assert results.current == 200
        assert results.next_offset is None and "match 201/299 ·" in status(logs)
        offsets = [call[1][3] for call in source.calls if call[0] == "search_logs"]
        assert offsets[0] == 0 and offsets[1] > 0


async def test_filter_mode_is_kept_on_f(fixed_app: MakeApp) -> None:
    app = fixed_app()
    async with app.run_test(size=(120, 30)) as pilot:
        logs = await open_logs(pilot)
        log = logs.query_one("#log", Log)
        await pilot.press("f", *"request 3")
        await until(pilot, lambda: "filter: request 3" in status(logs))
        assert log.line_count == 11  # request 3 and 30-39
        await pilot.press("enter", "escape")
        await until(pilot, lambda: log.line_count == 40)


async def test_a_failed_invoke_leads_to_its_log_lines(fixed_app: MakeApp) -> None:
    source = FixedSource()
    source.invoke_status = 500
    app = fixed_app(source)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("down", "i")
        invoke = await until(pilot, lambda: isinstance(app.screen, InvokeScreen) and app.screen)
        await pilot.press(*"request.json", "enter")
        await until(pilot, lambda: "HTTP 500" in str(invoke.query_one("#outcome").render()))
        assert "ctrl+l" in str(invoke.query_one("#outcome").render())
        await pilot.press("ctrl+l")
        logs = await until(pilot, lambda: isinstance(app.screen, LogsScreen) and app.screen)
        results = logs.query_one("#results", SearchResults)
        await until(pilot, lambda: len(results.matches) == 1)
        assert "run() raised for req-1" in results.matches[0].text
        assert "x-request-id req-1" in status(logs)
        assert ("search_logs", ("fraud-scorer", "blue", None, 0, "req-1")) in source.calls


async def test_a_jobs_log_is_searched_on_the_devserver(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test(size=(120, 30)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("b")
        await pilot.pause(0.3)
        await pilot.press("ctrl+end", "enter")  # nightly-0430
        logs = await until(pilot, lambda: isinstance(app.screen, JobLogsScreen) and app.screen)
        await pilot.press("slash", *"mini-batch 2", "enter")
        results = logs.query_one("#results", SearchResults)
        await until(pilot, lambda: len(results.matches) == 11)  # 2 and 20-29
        assert source.calls[-1][0] == "search_job_logs"
