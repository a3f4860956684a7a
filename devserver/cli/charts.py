"""Metrics for a terminal: a table of the window's figures and small plotext charts."""

from __future__ import annotations

from typing import Any

import plotext  # type: ignore[import-untyped]

CHART_HEIGHT = 10
_MIB = 1024 * 1024


def summary_table(report: dict[str, Any], cost: dict[str, Any] | None) -> str:
    """The endpoint's and each deployment's figures over the report's window, one row each."""
    header = (
        "",
        "requests",
        "req/s",
        "errors",
        "p50 ms",
        "p90 ms",
        "p99 ms",
        "in flight",
        "cpu %",
        "memory",
    )
    rows = [_row("(endpoint)", report["total"]["summary"])]
    rows += [_row(name, block["summary"]) for name, block in report["deployments"].items()]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header))]
    lines = [
        f"{report['endpoint']}: last {_span(report['window_seconds'])}, "
        f"{_span(report['step_seconds'])} steps",
        "  ".join(
            h.rjust(w) if i else h.ljust(w)
            for i, (h, w) in enumerate(zip(header, widths, strict=True))
        ),
    ]
    lines += [
        "  ".join(
            c.rjust(w) if i else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        )
        for row in rows
    ]
    if cost:
        lines.append(_cost_line(cost))
    return "\n".join(line.rstrip() for line in lines)


def _row(name: str, summary: dict[str, Any]) -> tuple[str, ...]:
    rate = summary.get("error_rate")
    memory = summary.get("memory_bytes")
    return (
        name,
        str(summary.get("requests", 0)),
        f"{summary.get('rps', 0.0):.2f}",
        "-" if rate is None else f"{rate * 100:.1f}%",
        _num(summary.get("p50_ms")),
        _num(summary.get("p90_ms")),
        _num(summary.get("p99_ms")),
        str(summary.get("in_flight", 0)),
        _num(summary.get("cpu_percent"), 1),
        "-" if not memory else f"{memory / _MIB:.0f} MiB",
    )


def _cost_line(cost: dict[str, Any]) -> str:
    currency = cost.get("currency", "")
    per_hour, to_date = cost.get("estimated_per_hour"), cost.get("estimated_to_date")
    if per_hour is None:
        return "cost: no estimate (a deployment has no known instance_type; see rates.yaml)"
    text = f"cost: about {per_hour:.3f} {currency}/hour"
    if to_date is not None:
        text += f", {to_date:.4f} {currency} to date"
    if cost.get("core_seconds") is not None:
        text += (
            f" (measured: {cost['instance_hours']:.3f} instance-hours, "
            f"{cost['core_seconds']:.1f} core-seconds, {cost['gib_hours']:.4f} GiB-hours)"
        )
    return text


def charts(report: dict[str, Any], width: int, color: bool) -> str:
    """Requests per second and p99 latency over the window, one line per deployment."""
    step = int(report["step_seconds"])
    count = len(report["timestamps"])
    ages = [-(count - 1 - i) * step for i in range(count)]
    parts = []
    for key, title in (("rps", "requests/s"), ("p99_ms", "p99 latency, ms")):
        figure = plotext.figure
        figure.clear()
        figure.theme("simple" if color else "colorless")
        figure.plot_size(width, CHART_HEIGHT)
        drawn = False
        for name, block in report["deployments"].items():
            points = [
                (x, y) for x, y in zip(ages, block["series"][key], strict=True) if y is not None
            ]
            if not points:
                continue
            xs, ys = zip(*points, strict=True)
            figure.draw(figure.signal(list(xs), list(ys)).label(name).lines())
            drawn = True
        if not drawn:
            continue
        figure.ruler("x").lim(ages[0], 0)  # the whole window, even where nothing was drawn
        figure.title(title)
        figure.label("seconds ago")
        text = str(figure.build())
        parts.append(text if color else plotext.uncolorize(text))
    return "\n".join(parts) if parts else "(no calls in this window, nothing to chart)"


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _span(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"
