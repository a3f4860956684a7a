"""A line chart drawn with plotext, sized to the widget.

plotext 6 draws on one module-wide figure; every chart here clears it, draws and takes the
text in one synchronous step on the event loop's thread, so charts never see each other's
signals. The text is kept until the data or the size changes, so an idle screen costs nothing.
"""

from __future__ import annotations

import plotext  # type: ignore[import-untyped]
from rich.text import Text
from textual.widget import Widget

Series = dict[str, list[float | None]]


class Plot(Widget):
    DEFAULT_CSS = """
    Plot { height: 1fr; min-height: 8; }
    """

    def __init__(self, title: str, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.title = title
        self.xs: list[float] = []
        self.series: Series = {}
        self._cache: tuple[tuple[int, int], Text] | None = None

    def show(self, xs: list[float], series: Series, title: str | None = None) -> None:
        """Replace the data; redraws only when it differs from what is on screen."""
        title = title or self.title
        if xs == self.xs and series == self.series and title == self.title:
            return
        self.xs, self.series, self.title = list(xs), dict(series), title
        self._cache = None
        self.refresh()

    def render(self) -> Text:
        size = (self.size.width, self.size.height)
        if self._cache is not None and self._cache[0] == size:
            return self._cache[1]
        text = self._draw(*size)
        self._cache = (size, text)
        return text

    def _draw(self, width: int, height: int) -> Text:
        if width < 10 or height < 4:
            return Text("")
        figure = plotext.figure
        figure.clear()
        figure.theme("simple")
        figure.plot_size(width, height)
        drawn = False
        for label, values in self.series.items():
            points = [(x, y) for x, y in zip(self.xs, values, strict=False) if y is not None]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            figure.draw(figure.signal(list(xs), list(ys)).label(label).lines())
            drawn = True
        if not drawn:
            return Text(f"{self.title}\n\n  (nothing measured in this window)", style="dim")
        if self.xs:
            figure.ruler("x").lim(self.xs[0], self.xs[-1])
        figure.title(self.title)
        return Text.from_ansi(str(figure.build()))
