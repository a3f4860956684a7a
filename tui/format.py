"""How figures read on screen: short, fixed units, and a dash for "nothing measured yet"."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence

from rich.text import Text

from epdev.devserver import views

DASH = "-"

# How a set of deployments reads as one state: the most pressing one wins.
_STATE_ORDER = ("Failed", "Creating", "Updating", "Deleting", "Succeeded")


def ms(value: float | None) -> str:
    if value is None:
        return DASH
    return f"{value:.0f} ms" if value >= 10 else f"{value:.1f} ms"


def rps(value: float | None) -> str:
    return DASH if value is None else f"{value:.1f}"


def ratio(value: float | None) -> str:
    return DASH if value is None else f"{value * 100:.1f}%"


def cpu(value: float | None) -> str:
    return DASH if value is None else f"{value:.0f}%"


def memory(value: float | None) -> str:
    if not value:
        return DASH
    mib = value / (1024 * 1024)
    return f"{mib / 1024:.1f} GiB" if mib >= 1024 else f"{mib:.0f} MiB"


def money(cost: views.EndpointCost | views.DeploymentCost | None) -> str:
    """Estimated cost per hour, as `$0.59/h` (or the card's currency code)."""
    if cost is None or cost.estimated_per_hour is None:
        return DASH
    value = float(cost.estimated_per_hour)
    currency = cost.currency or "USD"
    prefix = "$" if currency == "USD" else f"{currency} "
    return f"{prefix}{value:.2f}/h"


def traffic(
    split: Mapping[str, int], deployments: list[str], mirror: Mapping[str, int] | None = None
) -> str:
    """`blue 90 · green 10`: every deployment, in the endpoint's order, with its share (and
    `green 0 (mirror 10)` for one that receives copies)."""
    if not deployments:
        return "(no deployments)"
    mirror = mirror or {}
    return " · ".join(
        f"{name} {split.get(name, 0)}" + (f" (mirror {mirror[name]})" if mirror.get(name) else "")
        for name in deployments
    )


def state(deployments: Sequence[views.DeploymentView] | None) -> str:
    if deployments is None:
        return "…"
    if not deployments:
        return DASH
    states = {d.provisioning_state for d in deployments}
    for candidate in _STATE_ORDER:
        if candidate in states:
            return candidate
    return sorted(states)[0]


def instances(view: views.DeploymentView) -> str:
    return f"{view.ready_instances}/{view.instance_count}"


def window(seconds: int) -> str:
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def masked(key: str) -> str:
    return f"{key[:4]}…{key[-2:]}" if len(key) > 8 else "…"


def progress(done: int, failed: int, total: int, width: int = 16) -> Text:
    """A bar of a batch job's items (done green, failed red, left dim) and `12/30`."""
    if total <= 0:
        return Text("─" * width + f" {DASH}", style="dim")
    ok = min(width, round(width * done / total))
    bad = min(width - ok, round(width * failed / total))
    bar = Text.assemble(("━" * ok, "green"), ("━" * bad, "red"), ("─" * (width - ok - bad), "dim"))
    bar.append(f" {done + failed}/{total}")
    if failed:
        bar.append(f" ({failed} failed)", style="red")
    return bar


def started(iso: str | None, now: dt.datetime) -> str:
    """When something started, in `now`'s zone: the time today, else the date as well."""
    if not iso:
        return DASH
    try:
        when = dt.datetime.fromisoformat(iso)
    except ValueError:
        return DASH
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    when = when.astimezone(now.tzinfo)
    return when.strftime("%H:%M:%S" if when.date() == now.date() else "%b %d %H:%M")


def duration(seconds: float | None) -> str:
    if seconds is None or seconds <= 0:
        return DASH
    whole = int(seconds)
    if whole < 60:
        return f"{seconds:.1f}s" if seconds < 10 else f"{whole}s"
    minutes, secs = divmod(whole, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"
