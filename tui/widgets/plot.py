"""A line chart drawn with plotext, sized to the widget.

plotext draws on a thread of its own: over a 1 min window the three charts of the endpoint
view change every second, and drawn on the event loop's thread they took 40-70 ms of it each
time, which a key pressed meanwhile waited for (`bench/dashboard_idle.py`). plotext 6 draws on
one module-wide figure, which that one thread alone touches: charts draw one at a time. The
text is kept until the data or the size changes, so an idle screen costs nothing.
"""

from __future__ import annotations

import asyncio
import math
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import plotext  # type: ignore[import-untyped]
from rich.text import Text
from textual import work
from textual.widget import Widget

Series = dict[str, list[float | None]]


@dataclass(frozen=True)
class Style:
    """How one series is drawn: its deployment's colour, and a line or dots (p50 against p99)."""

    color: str = "cyan"
    dotted: bool = False


Styles = dict[str, Style]

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
    styles: tuple[tuple[str, Style], ...] = ()


def _draw_on_figure(drawing: Drawing) -> Text:
    """The chart as text; only ever run on `_drawer`, the figure's one thread."""
    if drawing.width < 10 or drawing.height < 5:
        return Text("")
    styles = dict(drawing.styles)
    figure = plotext.figure
    figure.clear()
    figure.theme("simple")
    # One line for the title, one for the legend: both outside the plot area.
    figure.plot_size(drawing.width, drawing.height - 2)
    figure.legend(active=False)
    drawn: list[str] = []
    for label, values in drawing.series.items():
        points = [(x, y) for x, y in zip(drawing.xs, values, strict=False) if y is not None]
        if not points:
            continue
        xs, ys = zip(*points, strict=True)
        style = styles.get(label, Style())
        marker = plotext.marker("•" if style.dotted else "hd", pixel=style.color)
        signal = figure.signal(list(xs), [max(0.0, y) for y in ys], marker=marker)
        figure.draw(signal if style.dotted else signal.lines())
        drawn.append(label)
    if not drawn:
        return Text(f"{drawing.title}\n\n  (nothing measured in this window)", style="dim")
    if drawing.xs:
        ticks = time_ticks(-drawing.xs[0])
        # From the first round tick at or before the oldest point: `-5m … now`, not `-4m … now`.
        figure.ruler("x").lim(-ticks[0], max(drawing.xs[-1], 0.0))
        figure.ruler("x").ticks([-t for t in ticks], [age_label(t) for t in ticks])
    # Counts, latencies and percentages are never negative: the axis starts at 0.
    figure.ruler("y").lim(0, None)
    text = Text(drawing.title, style="bold")
    text.append("\n")
    text.append_text(_legend(drawn, styles, drawing.width))
    text.append("\n")
    text.append_text(Text.from_ansi(str(figure.build())))
    return text


def _legend(labels: list[str], styles: dict[str, Style], width: int) -> Text:
    legend = Text(no_wrap=True, overflow="ellipsis")
    for label in labels:
        style = styles.get(label, Style())
        if legend:
            legend.append("  ")
        legend.append("• " if style.dotted else "━ ", style=style.color)
        legend.append(label)
    legend.truncate(width, overflow="ellipsis")
    return legend


TICK_STEPS = (15, 30, 60, 300, 600, 900, 1800)


def time_ticks(span: float) -> list[int]:
    """Ages (seconds before now) for the time axis' ticks: at most six, on round steps."""
    span = max(span, 1.0)
    step = next((s for s in TICK_STEPS if span / s <= 5), TICK_STEPS[-1])
    oldest = math.ceil(span / step) * step
    return list(range(oldest, -1, -step))


def age_label(seconds: int) -> str:
    """`now`, `-45s`, `-5m`, `-1h`."""
    if seconds == 0:
        return "now"
    if seconds % 3600 == 0:
        return f"-{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"-{seconds // 60}m"
    return f"-{seconds}s"


class Plot(Widget):
    DEFAULT_CSS = """
    Plot { height: 1fr; min-height: 8; }
    """

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.xs: list[float] = []
        self.series: Series = {}
        self.series_styles: tuple[tuple[str, Style], ...] = ()
        self._shown: tuple[Drawing, Text] | None = None
        self._asked: Drawing | None = None

    @property
    def drawn(self) -> bool:
        """Whether the chart on screen is of the current data and size."""
        return self._shown is not None and self._shown[0] == self._wanted()

    def show(
        self,
        xs: list[float],
        series: Series,
        title: str | None = None,
        styles: Styles | None = None,
    ) -> None:
        """Replace the data; redraws only when it differs from what is on screen. `xs` are
        ages in seconds (-300 … 0), labelled on the axis as `-5m … now`."""
        title = title or self.title
        shown_styles = tuple((styles or {}).items())
        if (xs, series, title, shown_styles) == (
            self.xs,
            self.series,
            self.title,
            self.series_styles,
        ):
            return
        self.xs, self.series, self.title = list(xs), dict(series), title
        self.series_styles = shown_styles
        self._ask()

    def on_resize(self) -> None:
        self._ask()

    def render(self) -> Text:
        # Until the first drawing comes (a few ms), an empty chart; after a change, the last
        # one until the new one comes.
        return Text("") if self._shown is None else self._shown[1]

    def _wanted(self) -> Drawing:
        return Drawing(
            self.size.width, self.size.height, self.title, self.xs, self.series, self.series_styles
        )

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
