"""Searching a real deployment's log from the dashboard: lines long out of the backlog are
found, and a failed call's traceback is found by its x-request-id."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import ENDPOINT, Live, until
from test_dashboard_live import open_endpoint, select_row, text_of
from textual.widgets import Log

from epdev.tui.app import EpdevApp
from epdev.tui.screens.logs import BACKLOG, LogsScreen
from epdev.tui.widgets.search_results import SearchResults

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

MakeApp = Callable[..., EpdevApp]


async def test_slash_finds_the_start_up_lines_past_the_backlog(
    live: Live, live_app: MakeApp
) -> None:
    live.invoke(BACKLOG // 2, deployment="blue")  # 2-3 lines each: init() is out of the backlog
    failed = live.api.invoke(ENDPOINT, b'{"no data": 1}', deployment="blue")
    assert failed.status_code == 500
    request_id = failed.headers["x-request-id"]

    page = live.api.search_logs(ENDPOINT, "blue", request_id=request_id)
    lines = [m["text"] for m in page["matches"]]
    assert any("run() raised" in line for line in lines), lines
    assert any("KeyError" in line for line in lines), lines

    app = live_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await open_endpoint(pilot)
        await select_row(pilot, "#deployments", "blue")
        await pilot.press("l")
        screen = await until(pilot, lambda: isinstance(app.screen, LogsScreen) and app.screen)
        log = screen.query_one("#log", Log)
        await until(pilot, lambda: log.line_count >= BACKLOG)
        assert not any("Init complete" in line for line in log.lines)
        await pilot.press("slash", *"init complete", "enter")
        results = screen.query_one("#results", SearchResults)
        await until(pilot, lambda: results.matches)
        assert all("Init complete" in m.text for m in results.matches)
        assert "match 1/" in text_of(app, "#status")
