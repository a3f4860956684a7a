"""An endpoint's deployments, a row each: traffic, state, health and live figures."""

from __future__ import annotations

from rich.text import Text

from epdev.devserver import views
from epdev.tui import format as fmt
from epdev.tui.colours import colour_of
from epdev.tui.screens.endpoints import state_cell
from epdev.tui.widgets.live_table import Cell, LiveTable

HEALTH_STYLES = {"Healthy": "green", "CrashLoop": "bold red"}

COLUMNS = (
    ("DEPLOYMENT", "name"),
    ("TRAFFIC", "traffic"),
    ("RUNTIME", "runtime"),
    ("INSTANCES", "instances"),
    ("STATE", "state"),
    ("HEALTH", "health"),
    ("CPU", "cpu"),
    ("MEMORY", "memory"),
    ("RPS", "rps"),
    ("P99", "p99"),
    ("COST", "cost"),
)

# Least needed first: narrow terminals drop these columns in this order.
DROP_ORDER = ("cost", "memory", "runtime", "cpu")
NARROW_TABLE = {100: 3, 80: 4}
"""Below each width, the number of DROP_ORDER's columns left out."""


def health_cell(view: views.DeploymentView) -> Text:
    """The probes' verdict and the instances' restarts since start, e.g. `Healthy ↻2`."""
    state = view.health.state or "-"
    restarts = sum(i.restarts for i in view.health.instances)
    text = Text(state, style=HEALTH_STYLES.get(state, "yellow" if state != "-" else "dim"))
    if restarts:
        text.append(f" ↻{restarts}", style="yellow")
    return text


def row(
    view: views.DeploymentView, traffic: dict[str, int], mirror: dict[str, int], names: list[str]
) -> tuple[Cell, ...]:
    """One deployment's cells, in COLUMNS' order; `names` fixes each deployment's colour."""
    name = view.name
    share = traffic.get(name, 0)
    copies = f" (mirror {mirror[name]}%)" if mirror.get(name) else ""
    figures = view.metrics
    return (
        Text("■ ", style=colour_of(name, names)) + Text(name, style="bold"),
        Text(f"{share}%{copies}", style="bold" if share or copies else "dim"),
        view.runtime,
        fmt.instances(view),
        state_cell(view.provisioning_state),
        health_cell(view),
        fmt.cpu(figures.cpu_percent if figures else None),
        fmt.memory(figures.memory_bytes if figures else None),
        fmt.rps(figures.rps if figures else None),
        fmt.ms(figures.p99_ms if figures else None),
        fmt.money(view.cost),
    )


class DeploymentTable(LiveTable):
    """The deployments of one endpoint; on a narrow terminal its least needed columns go."""

    def __init__(self, *, id: str) -> None:
        super().__init__(id=id, cursor_type="row")
        for label, key in COLUMNS:
            self.add_column(label, key=key)
        self._dropped = 0

    def show(
        self,
        endpoint: views.EndpointView,
        deployments: list[views.DeploymentView],
        names: list[str],
    ) -> dict[str, tuple[Cell, ...]]:
        """Show a row per deployment of `endpoint`; returns the rows, keyed by name."""
        traffic = endpoint.traffic
        mirror = endpoint.mirror_traffic
        gone = set(DROP_ORDER[: self._dropped])
        keep = [i for i, (_, key) in enumerate(COLUMNS) if key not in gone]
        rows = {}
        for d in deployments:
            cells = row(d, traffic, mirror, names)
            rows[d.name] = tuple(cells[i] for i in keep)
        self.sync(rows)
        return rows

    def fit(self, width: int) -> bool:
        """Keep the columns that fit `width`; True when that changed them (rows to show again)."""
        dropped = next((n for limit, n in sorted(NARROW_TABLE.items()) if width < limit), 0)
        if dropped == self._dropped:
            return False
        self._dropped = dropped
        gone = set(DROP_ORDER[:dropped])
        self.set_columns([(label, key) for label, key in COLUMNS if key not in gone])
        return True
