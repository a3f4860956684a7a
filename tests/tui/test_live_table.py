"""The live table: figures that change every second leave memory flat."""

from __future__ import annotations

import gc
import random
import tracemalloc

import pytest
from textual.app import App, ComposeResult

from epdev.tui.widgets.live_table import LiveTable

COLUMNS = ["name", "runtime", "instances", "state", "cpu", "memory", "rps", "p50", "p99"]


class _TableApp(App[None]):
    def compose(self) -> ComposeResult:
        yield LiveTable(id="table")


def _rows(rng: random.Random) -> dict[str, list[str]]:
    """Three deployments whose figures all changed since the last refresh."""
    return {
        f"deployment-{i}": [
            f"deployment-{i}",
            "process",
            "1",
            "Succeeded",
            f"{rng.uniform(0, 99):.1f}%",
            f"{rng.randint(50, 99)} MiB",
            f"{rng.uniform(0, 9):.2f}",
            f"{rng.uniform(1, 9):.1f}",
            f"{rng.uniform(10, 99):.1f}",
        ]
        for i in range(3)
    }


@pytest.mark.slow
@pytest.mark.asyncio
async def test_refreshed_figures_do_not_pile_up_in_memory() -> None:
    # Textual's DataTable caches every rendering until LRUs of 10,000 cells and 1,000 lines
    # evict it: without pruning, 200 refreshes of this table kept some 9 MiB.
    rng = random.Random(7)
    app = _TableApp()
    async with app.run_test(size=(140, 40)) as pilot:
        table = app.query_one("#table", LiveTable)
        for column in COLUMNS:
            table.add_column(column, key=column, width=12)
        for _ in range(20):  # widths settle, caches warm up
            table.sync(_rows(rng))
            await pilot.pause()
        tracemalloc.start()
        try:
            gc.collect()
            before = tracemalloc.get_traced_memory()[0]
            for _ in range(200):
                table.sync(_rows(rng))
                await pilot.pause()
            gc.collect()
            grown = tracemalloc.get_traced_memory()[0] - before
        finally:
            tracemalloc.stop()
    assert grown < 2 * 2**20, f"{grown / 2**20:.1f} MiB kept after 200 refreshes"
