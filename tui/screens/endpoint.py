"""One endpoint: its deployments, live graphs over a window, scoring URI and key."""

from __future__ import annotations

import asyncio
import math
import time

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static
from textual.worker import Worker

from epdev.devserver import views
from epdev.tui import format as fmt
from epdev.tui.changes import confirm_then
from epdev.tui.messages import Done, EndpointGone, EndpointLoaded, Failed, Reachability
from epdev.tui.screens.deployment_actions import DeploymentActions
from epdev.tui.screens.endpoints import CHANGING_ACTIONS
from epdev.tui.source import ClientError, NotRunning
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.deployment_table import DeploymentTable
from epdev.tui.widgets.endpoint_graphs import EndpointGraphs
from epdev.tui.widgets.footer import Footer
from epdev.tui.widgets.live_table import Cell

DEPLOYMENT_CHANGES = ("scale", "restart", "all_traffic", "regenerate_key", "command")

WINDOWS = (60, 300, 900, 3600)
"""Seconds the graphs span; `w` steps through them."""

# Long windows have coarse steps; re-reading them every second would only redraw the same
# points, so the series are fetched once per step, but at least every couple of seconds so
# the newest (partial) point stays live.
MAX_METRICS_AGE = 2.0


class EndpointScreen(DeploymentActions):
    AUTO_FOCUS = "#deployments"
    # The footer shows the daily keys; `?` lists every one (hidden ones included).
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("escape", "back", "Back"),
        Binding("l", "logs", "Logs"),
        Binding("i", "invoke", "Invoke"),
        Binding("t", "traffic", "Traffic"),
        Binding("s", "scale", "Scale"),
        Binding("r", "restart", "Restart"),
        Binding("d", "describe", "Describe"),
        Binding("colon", "command", "Command", key_display=":"),
        Binding("a", "all_traffic", "All traffic to it", show=False),
        Binding("w", "window", "Graph window", show=False),
        Binding("g", "graph", "Next graph (narrow)", show=False),
        Binding("c", "copy_key", "Copy key"),
        Binding("u", "copy_uri", "Copy scoring URI", show=False),
        Binding("y", "copy_curl", "Copy a curl command", show=False),
        Binding("K", "regenerate_key", "Regenerate primary key", show=False, key_display="K"),
        Binding("n", "deploy", "Deploy spec", show=False),
        Binding("ctrl+d", "delete", "Delete deployment", show=False),
    ]

    def __init__(self, name: str, window: int = 300, select: str | None = None) -> None:
        super().__init__()
        self.endpoint_name = name
        self._select = select
        self.window = window
        self.view: views.EndpointView | None = None
        self.deployments: list[views.DeploymentView] = []
        self.key: str | None = None
        self._worker: Worker[None] | None = None
        self._metrics_at = -math.inf

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield Static(f"[b]{escape(self.endpoint_name)}[/b] · loading…", id="info", classes="info")
        yield DeploymentTable(id="deployments")
        yield Static(id="window", classes="status")
        yield EndpointGraphs(id="graphs")
        yield Footer()

    def on_mount(self) -> None:
        self._show_window()
        self._fit(self.app.size.width)
        self.set_interval(self.epdev.refresh_seconds, self.refresh_now)
        self.refresh_now()

    def on_screen_resume(self) -> None:
        self.refresh_now()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in CHANGING_ACTIONS + DEPLOYMENT_CHANGES and self.epdev.read_only:
            return False
        keyless = self.view is not None and self.view.auth_mode != "key"
        if action in ("copy_key", "regenerate_key") and keyless:
            return None
        return True

    # Loading

    def _step(self) -> int:
        # As many points as the chart has columns: the series stays bounded.
        return max(1, math.ceil(self.window / self.query_one(EndpointGraphs).points()))

    def refresh_now(self, force_metrics: bool = False) -> None:
        if not self.is_current:
            return
        # A load already on its way is left to finish, unless it asks for what is no longer
        # wanted (another window): then a new one replaces it (the group is exclusive).
        if not force_metrics and self._worker is not None and self._worker.is_running:
            return
        step = self._step()
        age = time.monotonic() - self._metrics_at
        with_metrics = force_metrics or age >= min(step, MAX_METRICS_AGE)
        if with_metrics:
            self._metrics_at = time.monotonic()
        self._worker = self.load(self.window, step, with_metrics, self.key is None)

    @work(exclusive=True, exit_on_error=False, group="load")
    async def load(self, window: int, step: int, with_metrics: bool, need_key: bool) -> None:
        source = self.epdev.source
        name = self.endpoint_name
        try:
            endpoint, deployments = await asyncio.gather(
                source.get_endpoint(name), source.list_deployments(name)
            )
            key = None
            if need_key and endpoint.auth_mode == "key":
                credentials = await source.get_credentials(name)
                if isinstance(credentials, views.EndpointKeys):
                    key = credentials.primaryKey
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            return
        except ClientError as exc:
            if exc.status == 404:
                self.post_message(EndpointGone(name, str(exc)))
            else:
                self.post_message(Reachability(f"the devserver refused to show {name}: {exc}"))
            return
        metrics: views.EndpointMetrics | None = None
        if with_metrics:
            try:
                metrics = await source.endpoint_metrics(name, window=f"{window}s", step=f"{step}s")
            except ClientError:
                metrics = None  # metrics switched off in that devserver: graphs stay empty
        self.post_message(Reachability(None))
        self.post_message(EndpointLoaded(endpoint, deployments, metrics, key, window))

    def on_endpoint_loaded(self, message: EndpointLoaded) -> None:
        auth_changed = self.view is None or self.view.auth_mode != message.endpoint.auth_mode
        self.view = message.endpoint
        self.deployments = message.deployments
        if message.key:
            self.key = message.key
        self._show_info()
        rows = self._show_rows()
        table = self.query_one(DeploymentTable)
        if self._select in rows:
            # Arriving from a deploy: the cursor starts on the deployment just applied.
            table.move_cursor(row=list(rows).index(self._select), animate=False)
            self._select = None
        if message.metrics is not None and message.window == self.window:
            # (A load for the window before a quick `w` can land after it: not shown.)
            self.query_one(EndpointGraphs).show(message.metrics, self._names())
        if auth_changed:
            # Only the key-copy binding depends on the data, and the footer rebuilds its keys
            # only when they change: no need to recompute every screen's bindings each second.
            self.refresh_bindings()

    def _show_rows(self) -> dict[str, tuple[Cell, ...]]:
        if self.view is None:
            return {}
        return self.query_one(DeploymentTable).show(self.view, self.deployments, self._names())

    def on_endpoint_gone(self, message: EndpointGone) -> None:
        self.notify(f"endpoint {message.name} is gone: {message.text}", severity="warning")
        if self.is_current:
            self.dismiss(None)

    def _show_info(self) -> None:
        view = self.view
        if view is None:
            return
        key = fmt.masked(self.key) if self.key else "(no key: auth_mode " + view.auth_mode + ")"
        traffic = fmt.traffic(view.traffic, list(view.deployments), view.mirror_traffic)
        figures = view.metrics
        lines = [
            f"[b]{escape(self.endpoint_name)}[/b] · auth {view.auth_mode} · "
            f"traffic {escape(traffic)} · {fmt.money(view.cost)} · "
            f"rps {fmt.rps(figures.rps if figures else None)} · "
            f"errors {fmt.ratio(figures.error_rate if figures else None)}",
            f"scoring URI [u]{escape(view.scoring_uri)}[/u] (u copies) · "
            f"key {escape(key)} (c copies)",
        ]
        lines += [
            f"[red]{escape(d.name)}: {escape(d.error)}[/red]" for d in self.deployments if d.error
        ]
        self.query_one("#info", Static).update("\n".join(lines))

    def _show_window(self) -> None:
        self.query_one("#window", Static).update(
            f"graphs over the last [b]{fmt.window(self.window)}[/b] · w changes the window "
            f"({' / '.join(fmt.window(w) for w in WINDOWS)})"
        )

    def _names(self) -> list[str]:
        return (self.view.deployments if self.view else []) or [d.name for d in self.deployments]

    # Narrow terminals

    def on_resize(self) -> None:
        self._fit(self.size.width)

    def _fit(self, width: int) -> None:
        """All charts side by side when they fit, else one at a time; the table keeps its
        most needed columns."""
        self.query_one(EndpointGraphs).fit(width)
        if self.query_one(DeploymentTable).fit(width) and self.view is not None:
            self._show_rows()

    def action_graph(self) -> None:
        self.query_one(EndpointGraphs).next_chart(self.size.width)

    # Actions on the endpoint (those on a deployment are DeploymentActions')

    def action_back(self) -> None:
        self.dismiss(None)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_logs()

    def action_window(self) -> None:
        index = WINDOWS.index(self.window) if self.window in WINDOWS else 0
        self.window = WINDOWS[(index + 1) % len(WINDOWS)]
        self._show_window()
        self.refresh_now(force_metrics=True)

    def action_copy_key(self) -> None:
        if self.key is None:
            self.notify("no key to copy yet")
            return
        self.app.copy_to_clipboard(self.key)
        self.notify("primary key copied to the clipboard")

    def action_copy_uri(self) -> None:
        if self.view is None:
            return
        self.app.copy_to_clipboard(self.view.scoring_uri)
        self.notify("scoring URI copied to the clipboard")

    def action_invoke(self) -> None:
        from epdev.tui.screens.invoke import InvokeScreen

        names = [d.name for d in self.deployments]
        self.app.push_screen(InvokeScreen(self.endpoint_name, names))

    def action_traffic(self) -> None:
        from epdev.tui.screens.traffic import TrafficScreen

        if self.view is None or not self.deployments:
            self.notify("no deployments to send traffic to")
            return
        names = [d.name for d in self.deployments]
        self.app.push_screen(
            TrafficScreen(
                self.endpoint_name,
                names,
                self.view.traffic,
                self.view.mirror_traffic,
            )
        )

    def action_deploy(self) -> None:
        from epdev.tui.screens.deploy import DeployScreen

        self.app.push_screen(DeployScreen())

    def on_done(self, message: Done) -> None:
        self.notify(message.text)
        self.refresh_now()

    def action_regenerate_key(self) -> None:
        question = (
            f"Regenerate the primary key of [b]{escape(self.endpoint_name)}[/b]?\n"
            "Callers using the old key get 401 from now on; the secondary key keeps working."
        )
        confirm_then(self.app, "Regenerate key", question, self.regenerate)

    @work(exit_on_error=False, group="change")
    async def regenerate(self) -> None:
        try:
            keys = await self.epdev.source.regenerate_keys(self.endpoint_name, "primary")
        except ClientError as exc:
            self.post_message(Failed(f"key not regenerated: {exc}"))
            return
        self.key = keys.primaryKey if isinstance(keys, views.EndpointKeys) else None
        self.post_message(Done("primary key regenerated (c copies the new one)"))

    def curl_command(self) -> str | None:
        if self.view is None:
            return None
        uri = self.view.scoring_uri
        auth = f' -H "Authorization: Bearer {self.key}"' if self.key else ""
        request = self.epdev.last_request_file or "sample-request.json"
        return (
            f"curl --fail-with-body {uri}{auth} -H 'Content-Type: application/json' -d @{request}"
        )

    def action_copy_curl(self) -> None:
        command = self.curl_command()
        if command is None:
            return
        self.app.copy_to_clipboard(command)
        self.notify("a curl command copied to the clipboard (with the key)")
