"""A line chart drawn with plotext, sized to the widget.

plotext draws on a thread of its own: over a 1 min window the three charts of the endpoint
view change every second, and drawn on the event loop's thread they took 40-70 ms of it each
time, which a key pressed meanwhile waited for (`bench/dashboard_idle.py`). plotext 6 draws on
one module-wide figure, which that one thread alone touches: charts draw one at a time. The
text is kept until the data or the size changes, so an idle screen costs nothing.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import plotext  # type: ignore[import-untyped]
from rich.text import Text
from textual import work
from textual.widget import Widget

Series = dict[str, list[float | None]]

# One thread for every chart: a thread per drawing (Textual's thread workers, three a second)
# left the dashboard about 10 MiB larger and less steady (124-136 MiB against 115-122 over ten
# minutes of live graphs), the allocator's per-thread arenas most likely.
_drawer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="epdev-plot")


@dataclass(frozen=True)
class Drawing:
    """Everything a chart's text depends on."""

    width: int
    height: int
    title: str
    xs: list[float]
    series: Series


def _draw_on_figure(drawing: Drawing) -> Text:
    """The chart as text; only ever run on `_drawer`, the figure's one thread."""
    if drawing.width < 10 or drawing.height < 4:
        return Text("")
    figure = plotext.figure
    figure.clear()
    figure.theme("simple")
    figure.plot_size(drawing.width, drawing.height)
    drawn = False
    for label, values in drawing.series.items():
        points = [(x, y) for x, y in zip(drawing.xs, values, strict=False) if y is not None]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        figure.draw(figure.signal(list(xs), list(ys)).label(label).lines())
        drawn = True
    if not drawn:
        return Text(f"{drawing.title}\n\n  (nothing measured in this window)", style="dim")
    if drawing.xs:
        figure.ruler("x").lim(drawing.xs[0], drawing.xs[-1])
    figure.title(drawing.title)
    return Text.from_ansi(str(figure.build()))


class Plot(Widget):
    DEFAULT_CSS = """
    Plot { height: 1fr; min-height: 8; }
    """

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.xs: list[float] = []
        self.series: Series = {}
        self._shown: tuple[Drawing, Text] | None = None
        self._asked: Drawing | None = None

    @property
    def drawn(self) -> bool:
        """Whether the chart on screen is of the current data and size."""
        return self._shown is not None and self._shown[0] == self._wanted()

    def show(self, xs: list[float], series: Series, title: str | None = None) -> None:
        """Replace the data; redraws only when it differs from what is on screen."""
        title = title or self.title
        if xs == self.xs and series == self.series and title == self.title:
            return
        self.xs, self.series, self.title = list(xs), dict(series), title
        self._ask()

    def on_resize(self) -> None:
        self._ask()

    def render(self) -> Text:
        # Until the first drawing comes (a few ms), an empty chart; after a change, the last
        # one until the new one comes.
        return Text("") if self._shown is None else self._shown[1]

    def _wanted(self) -> Drawing:
        return Drawing(self.size.width, self.size.height, self.title, self.xs, self.series)

    def _ask(self) -> None:
        wanted = self._wanted()
        if self.drawn or wanted == self._asked:
            return
        self._asked = wanted
        self._draw(wanted)

    @work(exclusive=True, group="draw", exit_on_error=False)
    async def _draw(self, drawing: Drawing) -> None:
        text = await asyncio.get_running_loop().run_in_executor(_drawer, _draw_on_figure, drawing)
        if drawing == self._wanted():  # else a later drawing is on its way
            self._shown = (drawing, text)
            self.refresh()
