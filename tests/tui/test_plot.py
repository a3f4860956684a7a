"""The chart widget: plotext draws off the event loop's thread, and the latest data wins."""

from __future__ import annotations

import threading
from typing import Any

import plotext  # type: ignore[import-untyped]
import pytest
from conftest import shown_text, until
from textual.app import App, ComposeResult

from epdev.tui.widgets.plot import Plot

pytestmark = pytest.mark.asyncio

XS = [float(x) for x in range(-59, 1)]


class _PlotApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Plot("latency, ms", id="plot")


async def test_charts_are_drawn_off_the_event_loops_thread(monkeypatch: Any) -> None:
    built_on: list[int] = []
    build = plotext.figure.build

    def recorded() -> Any:
        built_on.append(threading.get_ident())
        return build()

    monkeypatch.setattr(plotext.figure, "build", recorded)
    app = _PlotApp()
    async with app.run_test(size=(100, 20)) as pilot:
        plot = app.query_one(Plot)
        plot.show(XS, {"blue p50": [float(x % 7) for x in range(60)]})
        await until(pilot, lambda: plot.drawn)
        assert built_on and threading.get_ident() not in built_on
        assert "latency, ms" in shown_text(plot)


async def test_the_latest_data_and_size_are_what_is_shown() -> None:
    app = _PlotApp()
    async with app.run_test(size=(100, 20)) as pilot:
        plot = app.query_one(Plot)
        for second in range(5):  # faster than charts are drawn: earlier ones are dropped
            plot.show(XS, {"blue": [float(second)] * 60}, f"requests/s, second {second}")
        await until(pilot, lambda: plot.drawn)
        assert "second 4" in shown_text(plot)
        await pilot.resize_terminal(70, 16)
        await until(pilot, lambda: plot.drawn and plot.outer_size.width == 70)
        assert max(len(line) for line in shown_text(plot).splitlines()) == 70
        plot.show(XS, {"blue": [None] * 60}, "requests/s")
        await until(pilot, lambda: plot.drawn)
        assert "nothing measured in this window" in shown_text(plot)
