"""The first screen: every endpoint with its traffic, state, load, latency, errors and cost."""

from __future__ import annotations

import asyncio

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.widgets import Static
from textual.worker import Worker

from epdev.devserver import views
from epdev.tui import format as fmt
from epdev.tui.changes import confirm_then, report
from epdev.tui.messages import EndpointsLoaded, Reachability
from epdev.tui.screens.table_screen import TableScreen
from epdev.tui.source import ClientError, NotRunning
from epdev.tui.widgets.live_table import Cell

COLUMNS = (
    ("NAME", "name"),
    ("AUTH", "auth"),
    ("DEPLOYMENTS (TRAFFIC %)", "traffic"),
    ("STATE", "state"),
    ("RPS", "rps"),
    ("P50", "p50"),
    ("P99", "p99"),
    ("ERRORS", "errors"),
    ("COST", "cost"),
)

# Deployment states are one extra call per endpoint. Endpoints whose deployments are settled
# are re-read a few per refresh, in turn, so fifty endpoints never cost fifty calls a second.
SETTLED = ("Succeeded", "Failed")
ROTATION = 2

# Textual's DataTable re-renders every visible row when any cell changes, and under load some
# endpoint's figures change every second. A long table therefore refreshes every other tick:
# its figures are one-minute averages, and this keeps an idle dashboard of fifty endpoints
# under 5% of a core (bench/dashboard_idle.py).
LONG_TABLE = 20

STATE_STYLES = {"Succeeded": "green", "Failed": "bold red", "-": "dim"}

CHANGING_ACTIONS = ("traffic", "delete", "deploy")

BATCH = "batch:"
"""Row keys of batch endpoints (an online and a batch endpoint may share a name)."""


def state_cell(state: str) -> Text:
    return Text(state, style=STATE_STYLES.get(state, "yellow"))


class EndpointsScreen(TableScreen[views.EndpointView]):
    AUTO_FOCUS = "#endpoints"
    TABLE_ID = "endpoints"
    COLUMNS = COLUMNS
    DROP_ORDER = ("cost", "auth", "p50", "errors")
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("slash", "filter", "Filter"),
        Binding("escape", "clear_filter", "Clear filter", show=False),
        Binding("t", "traffic", "Traffic"),
        Binding("i", "invoke", "Invoke"),
        Binding("n", "deploy", "Deploy spec"),
        Binding("ctrl+d", "delete", "Delete"),
        Binding("b", "jobs", "Batch jobs"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.endpoints: dict[str, views.EndpointView] = {}
        self.batch_endpoints: dict[str, views.BatchEndpointView] = {}
        """Batch endpoints, listed after the online ones and marked batch."""
        self.deployments: dict[str, list[views.DeploymentView]] = {}
        self._rotation = 0
        self._ticks = 0

    def _tick(self) -> None:
        self._ticks += 1
        if len(self.endpoints) > LONG_TABLE and self._ticks % 2:
            return
        self.refresh_now()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in CHANGING_ACTIONS and self.epdev.read_only)

    # Loading

    def start_load(self) -> Worker[None]:
        self._rotation += ROTATION
        return self.load(self._rotation)

    @work(exclusive=True, exit_on_error=False, group="load")
    async def load(self, rotation: int) -> None:
        source = self.epdev.source
        try:
            endpoints = await source.list_endpoints()
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            return
        except ClientError as exc:
            self.post_message(Reachability(f"the devserver refused to list endpoints: {exc}"))
            return
        wanted = self._stale(endpoints, rotation)
        batch, *found = await asyncio.gather(
            source.list_batch_endpoints(),
            *(source.list_deployments(name) for name in wanted),
            return_exceptions=True,
        )
        deployments = {
            name: listed
            for name, listed in zip(wanted, found, strict=True)
            if isinstance(listed, list)
        }
        self.post_message(Reachability(None))
        batch_views = batch if isinstance(batch, list) else None
        self.post_message(EndpointsLoaded(endpoints, deployments, batch_views))

    def _stale(self, endpoints: list[views.EndpointView], rotation: int) -> list[str]:
        names = [e.name for e in endpoints]
        stale = []
        for endpoint in endpoints:
            name = endpoint.name
            known = self.deployments.get(name)
            if (
                known is None
                or [d.name for d in known] != endpoint.deployments
                or any(d.provisioning_state not in SETTLED for d in known)
            ):
                stale.append(name)
        if names:
            start = rotation % len(names)
            turn = (names + names)[start : start + ROTATION]
            stale += [n for n in turn if n not in stale]
        return stale

    def on_endpoints_loaded(self, message: EndpointsLoaded) -> None:
        self._loaded = True
        self.endpoints = {e.name: e for e in message.endpoints}
        self.deployments = {
            name: listed
            for name, listed in {**self.deployments, **message.deployments}.items()
            if name in self.endpoints
        }
        if message.batch is not None:
            self.batch_endpoints = {e.name: e for e in message.batch}
        self._show_rows()
        self._show_status()

    def _show_rows(self) -> None:
        needle = self.filter.lower()
        rows = {
            name: self.fit(self._row(view))
            for name, view in sorted(self.endpoints.items())
            if needle in name.lower() or needle in (view.description or "").lower()
        }
        rows.update(
            {
                BATCH + name: self.fit(self._batch_row(view))
                for name, view in sorted(self.batch_endpoints.items())
                if needle in name.lower() or needle in "batch"
            }
        )
        self.table.sync(rows)

    def _batch_row(self, view: views.BatchEndpointView) -> tuple[Cell, ...]:
        default = view.defaults.deployment_name
        shown = " · ".join(f"{n} (default)" if n == default else n for n in view.deployments)
        return (
            Text(view.name, style="bold") + Text(" batch", style="cyan"),
            view.auth_mode,
            shown or fmt.DASH,
            state_cell(view.provisioning_state or "-"),
            *(fmt.DASH for _ in range(len(COLUMNS) - 4)),
        )

    def _row(self, view: views.EndpointView) -> tuple[Cell, ...]:
        name = view.name
        figures = view.metrics
        return (
            Text(name, style="bold"),
            view.auth_mode,
            fmt.traffic(view.traffic, list(view.deployments), view.mirror_traffic),
            state_cell(fmt.state(self.deployments.get(name))),
            fmt.rps(figures.rps if figures else None),
            fmt.ms(figures.p50_ms if figures else None),
            fmt.ms(figures.p99_ms if figures else None),
            fmt.ratio(figures.error_rate if figures else None),
            fmt.money(view.cost),
        )

    def _show_status(self) -> None:
        app = self.epdev
        parts = [f"[b]epdev[/b] {app.server_url}"]
        if app.embedded:
            parts.append("embedded devserver (stops on quit)")
        if app.read_only:
            parts.append("[reverse] read-only [/reverse]")
        if self._loaded:
            shown = self.table.row_count
            count = len(self.endpoints) + len(self.batch_endpoints)
            noun = "endpoint" if count == 1 else "endpoints"
            parts.append(f"{count} {noun}" if shown == count else f"{shown}/{count} {noun}")
            if not count:
                parts.append("[b]n[/b] deploys a spec (an endpoint and its deployments)")
            parts.append(f"updated {app.clock().strftime('%H:%M:%S')}")
        else:
            parts.append("loading…")
        shown_filter = self.filter_status()
        if shown_filter:
            parts.append(shown_filter)
        self.query_one("#status", Static).update(" · ".join(parts))

    # Actions on the selected endpoint

    def views(self) -> dict[str, views.EndpointView]:
        return self.endpoints

    def action_open(self) -> None:
        from epdev.tui.screens.endpoint import EndpointScreen
        from epdev.tui.screens.jobs import JobsScreen

        key = self.table.selected_key()
        if key is not None and key.startswith(BATCH):
            # A batch endpoint: its jobs (s there starts one).
            self.app.push_screen(JobsScreen(endpoint=key[len(BATCH) :]))
            return
        view = self.selected()
        if view is not None:
            self.app.push_screen(EndpointScreen(view.name))

    def action_traffic(self) -> None:
        from epdev.tui.screens.traffic import TrafficScreen

        view = self.selected()
        if view is None:
            return
        names = list(view.deployments)
        if not names:
            self.notify(f"{view.name} has no deployments to send traffic to")
            return
        self.app.push_screen(TrafficScreen(view.name, names, view.traffic, view.mirror_traffic))

    def action_invoke(self) -> None:
        from epdev.tui.screens.invoke import InvokeScreen

        view = self.selected()
        if view is not None:
            self.app.push_screen(InvokeScreen(view.name, list(view.deployments)))

    def action_deploy(self) -> None:
        from epdev.tui.screens.deploy import DeployScreen

        self.app.push_screen(DeployScreen())

    def action_jobs(self) -> None:
        from epdev.tui.screens.jobs import JobsScreen

        self.app.push_screen(JobsScreen())

    def action_delete(self) -> None:
        view = self.selected()
        if view is None:
            return
        name = view.name
        count = len(view.deployments)
        question = (
            f"Delete endpoint [b]{name}[/b] and its {count} "
            f"{'deployment' if count == 1 else 'deployments'}?\n"
            "Its instances stop and its keys stop working."
        )

        confirm_then(self.app, "Delete endpoint", question, lambda: self.delete(name))

    @work(exit_on_error=False, group="change")
    async def delete(self, name: str) -> None:
        call = self.epdev.source.delete_endpoint(name)
        await report(self, call, f"deleted endpoint {name}", f"could not delete {name}")
