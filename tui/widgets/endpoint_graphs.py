"""An endpoint's live graphs: latency, requests, errors and CPU per deployment over a window."""

from __future__ import annotations

from textual.containers import Horizontal

from epdev.devserver import views
from epdev.tui import format as fmt
from epdev.tui.colours import colour_of
from epdev.tui.widgets.plot import Plot, Series, Style, Styles

POINTS = 60
"""Points per series at most; fewer when the charts are narrower (one per column)."""

CHARTS = (
    ("latency", "latency, ms"),
    ("rps", "requests/s"),
    ("errors", "errors/s"),
    ("cpu", "CPU, %"),
)
ALL_CHARTS_WIDTH = 140
"""Narrower than this, one chart at a time (`next_chart` shows the next)."""


def _errors_per_second(series: views.Series) -> list[float | None]:
    return [
        None if rate is None or rps is None else round(rate * rps, 3)
        for rate, rps in zip(series.error_rate, series.rps, strict=False)
    ]


class EndpointGraphs(Horizontal):
    """The four charts side by side, or the chosen one alone when they do not fit."""

    def __init__(self, *, id: str) -> None:
        super().__init__(*(Plot(title, id=chart) for chart, title in CHARTS), id=id)
        self.chart = CHARTS[0][0]
        """The chart shown when only one fits."""

    _width: int | None = None
    shown_step: int | None = None
    """The step of the report last drawn: a report fetched before the charts had their width
    has a coarser one than they can show."""

    def on_mount(self) -> None:
        if self._width is not None:  # fitted before its charts were there: fit them now
            self.fit(self._width)

    def _plots(self) -> dict[str | None, Plot]:
        # By id, and only those mounted: on a busy machine the screen's mount has come before
        # the charts' (seen once in a full run of tests/tui).
        return {plot.id: plot for plot in self.query(Plot)}

    def points(self) -> int:
        """As many points as the chart has columns (at most POINTS): each window is
        downsampled to what the chart can show."""
        plot = self._plots().get(self.chart)
        if plot is None or not plot.size.width:
            return POINTS
        columns = plot.size.width - 8  # the y axis' labels
        return max(20, min(POINTS, columns))

    def show(self, report: views.EndpointMetrics, names: list[str]) -> None:
        """Draw a metrics report (a series per deployment); `names` fixes each one's colour."""
        step = self.shown_step = report.step_seconds
        count = len(report.timestamps)
        ages = [float(-(count - 1 - i) * step) for i in range(count)]
        blocks = report.deployments
        latency: Series = {}
        rps: Series = {}
        errors: Series = {}
        cpu: Series = {}
        styles: Styles = {}
        for name, block in blocks.items():
            series = block.series
            colour = colour_of(name, names)
            latency[f"{name} p50"] = series.p50_ms
            latency[f"{name} p99"] = series.p99_ms
            styles[f"{name} p50"] = Style(colour)
            styles[f"{name} p99"] = Style(colour, dotted=True)
            rps[name] = [*series.rps]
            errors[name] = _errors_per_second(series)
            cpu[name] = series.cpu_percent
            styles[name] = Style(colour)
        span = fmt.window(report.window_seconds)
        shown = {
            "latency": (latency, f"latency, ms (p50 ━ p99 •), last {span}"),
            "rps": (rps, f"requests/s, last {span}"),
            "errors": (errors, f"errors/s (4xx and 5xx), last {span}"),
            "cpu": (cpu, f"CPU, % of a core, last {span}"),
        }
        for chart, (series_of, title) in shown.items():
            self.query_one(f"#{chart}", Plot).show(ages, series_of, title, styles)

    def fit(self, width: int) -> None:
        """All charts side by side when they fit in `width`, else the chosen one alone."""
        self._width = width
        one = width < ALL_CHARTS_WIDTH
        for chart, plot in self._plots().items():
            plot.display = not one or chart == self.chart

    def next_chart(self, width: int) -> None:
        """Choose the next chart to show alone, and fit again."""
        keys = [chart for chart, _ in CHARTS]
        self.chart = keys[(keys.index(self.chart) + 1) % len(keys)]
        self.fit(width)
