"""One endpoint: its deployments, live graphs over a window, scoring URI and key."""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker

from epdev.tui import format as fmt
from epdev.tui.changes import confirm_then, report
from epdev.tui.messages import Done, EndpointGone, EndpointLoaded, Reachability
from epdev.tui.screens.endpoints import CHANGING_ACTIONS, state_cell
from epdev.tui.source import ClientError, NotRunning, View
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.footer import Footer
from epdev.tui.widgets.live_table import Cell, LiveTable
from epdev.tui.widgets.plot import Plot, Series

if TYPE_CHECKING:
    from epdev.tui.app import EpdevApp

WINDOWS = (60, 300, 900, 3600)
POINTS = 60
"""Seconds the graphs span; `w` steps through them."""

COLUMNS = (
    ("DEPLOYMENT", "name"),
    ("TRAFFIC", "traffic"),
    ("RUNTIME", "runtime"),
    ("INSTANCES", "instances"),
    ("STATE", "state"),
    ("CPU", "cpu"),
    ("MEMORY", "memory"),
    ("RPS", "rps"),
    ("P99", "p99"),
    ("COST", "cost"),
)

# Long windows have coarse steps; re-reading them every second would only redraw the same
# points, so the series are fetched once per step, but at least every couple of seconds so
# the newest (partial) point stays live.
MAX_METRICS_AGE = 2.0


class EndpointScreen(Screen[None]):
    AUTO_FOCUS = "#deployments"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("w", "window", "Window"),
        Binding("c", "copy_key", "Copy key"),
        Binding("u", "copy_uri", "Copy URI"),
        Binding("l", "logs", "Logs"),
        Binding("i", "invoke", "Invoke"),
        Binding("t", "traffic", "Traffic"),
        Binding("n", "deploy", "Deploy spec"),
        Binding("ctrl+d", "delete", "Delete deployment"),
    ]

    def __init__(self, name: str, window: int = 300, select: str | None = None) -> None:
        super().__init__()
        self.endpoint_name = name
        self._select = select
        self.window = window
        self.view: View | None = None
        self.deployments: list[View] = []
        self.key: str | None = None
        self._worker: Worker[None] | None = None
        self._metrics_at = -math.inf

    @property
    def epdev(self) -> EpdevApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield Static(f"[b]{escape(self.endpoint_name)}[/b] · loading…", id="info", classes="info")
        table = LiveTable(id="deployments", cursor_type="row")
        for label, key in COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Static(id="window", classes="status")
        with Horizontal(id="graphs"):
            yield Plot("latency, ms", id="latency")
            yield Plot("requests/s", id="rps")
            yield Plot("CPU, %", id="cpu")
        yield Footer()

    def on_mount(self) -> None:
        self._show_window()
        self.set_interval(self.epdev.refresh_seconds, self.refresh_now)
        self.refresh_now()

    def on_screen_resume(self) -> None:
        self.refresh_now()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in CHANGING_ACTIONS and self.epdev.read_only:
            return False
        if action == "copy_key" and self.view is not None and self.view.get("auth_mode") != "key":
            return None
        return True

    # Loading

    def _step(self) -> int:
        # A fixed number of points whatever the window: the series stays bounded, and a chart
        # is never wider than plotext can draw one point per column or two.
        return max(1, math.ceil(self.window / POINTS))

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
            if need_key and endpoint.get("auth_mode") == "key":
                key = (await source.get_credentials(name)).get("primaryKey")
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            return
        except ClientError as exc:
            if exc.status == 404:
                self.post_message(EndpointGone(name, str(exc)))
            else:
                self.post_message(Reachability(f"the devserver refused to show {name}: {exc}"))
            return
        metrics: View | None = None
        if with_metrics:
            try:
                metrics = await source.endpoint_metrics(name, window=f"{window}s", step=f"{step}s")
            except ClientError:
                metrics = None  # metrics switched off in that devserver: graphs stay empty
        self.post_message(Reachability(None))
        self.post_message(EndpointLoaded(endpoint, deployments, metrics, key, window))

    def on_endpoint_loaded(self, message: EndpointLoaded) -> None:
        auth_changed = self.view is None or self.view.get("auth_mode") != message.endpoint.get(
            "auth_mode"
        )
        self.view = message.endpoint
        self.deployments = message.deployments
        if message.key:
            self.key = message.key
        self._show_info()
        traffic = self.view.get("traffic") or {}
        mirror = self.view.get("mirror_traffic") or {}
        rows = {str(d["name"]): self._row(d, traffic, mirror) for d in self.deployments}
        table = self.query_one("#deployments", LiveTable)
        table.sync(rows)
        if self._select in rows:
            # Arriving from a deploy: the cursor starts on the deployment just applied.
            table.move_cursor(row=list(rows).index(self._select), animate=False)
            self._select = None
        if message.metrics is not None and message.window == self.window:
            # (A load for the window before a quick `w` can land after it: not shown.)
            self._show_graphs(message.metrics)
        if auth_changed:
            # Only the key-copy binding depends on the data, and the footer rebuilds its keys
            # only when they change: no need to recompute every screen's bindings each second.
            self.refresh_bindings()

    def on_endpoint_gone(self, message: EndpointGone) -> None:
        self.notify(f"endpoint {message.name} is gone: {message.text}", severity="warning")
        if self.is_current:
            self.dismiss(None)

    def _row(self, view: View, traffic: dict[str, int], mirror: dict[str, int]) -> tuple[Cell, ...]:
        name = str(view["name"])
        share = traffic.get(name, 0)
        copies = f" (mirror {mirror[name]}%)" if mirror.get(name) else ""
        state = str(view.get("provisioning_state", "?"))
        return (
            Text(name, style="bold"),
            Text(f"{share}%{copies}", style="bold" if share or copies else "dim"),
            str(view.get("runtime", "")),
            fmt.instances(view),
            state_cell(state),
            fmt.cpu(fmt.metric(view, "cpu_percent")),
            fmt.memory(fmt.metric(view, "memory_bytes")),
            fmt.rps(fmt.metric(view, "rps")),
            fmt.ms(fmt.metric(view, "p99_ms")),
            fmt.money(view.get("cost")),
        )

    def _show_info(self) -> None:
        view = self.view
        if view is None:
            return
        key = (
            fmt.masked(self.key)
            if self.key
            else "(no key: auth_mode " + str(view.get("auth_mode")) + ")"
        )
        traffic = fmt.traffic(
            view.get("traffic") or {},
            list(view.get("deployments") or []),
            view.get("mirror_traffic"),
        )
        lines = [
            f"[b]{escape(self.endpoint_name)}[/b] · auth {view.get('auth_mode')} · "
            f"traffic {escape(traffic)} · {fmt.money(view.get('cost'))} · "
            f"rps {fmt.rps(fmt.metric(view, 'rps'))} · "
            f"errors {fmt.ratio(fmt.metric(view, 'error_rate'))}",
            f"scoring URI [u]{escape(str(view.get('scoring_uri')))}[/u] (u copies) · "
            f"key {escape(key)} (c copies)",
        ]
        failed = [d for d in self.deployments if d.get("error")]
        lines += [f"[red]{escape(str(d['name']))}: {escape(str(d['error']))}[/red]" for d in failed]
        self.query_one("#info", Static).update("\n".join(lines))

    def _show_window(self) -> None:
        self.query_one("#window", Static).update(
            f"graphs over the last [b]{fmt.window(self.window)}[/b] · w changes the window "
            f"({' / '.join(fmt.window(w) for w in WINDOWS)})"
        )

    def _show_graphs(self, report: View) -> None:
        step = int(report["step_seconds"])
        count = len(report["timestamps"])
        ages = [float(-(count - 1 - i) * step) for i in range(count)]
        blocks: dict[str, Any] = report.get("deployments") or {}
        latency: Series = {}
        rps: Series = {}
        cpu: Series = {}
        for name, block in blocks.items():
            series = block["series"]
            latency[f"{name} p50"] = series["p50_ms"]
            latency[f"{name} p99"] = series["p99_ms"]
            rps[name] = series["rps"]
            cpu[name] = series["cpu_percent"]
        span = fmt.window(int(report["window_seconds"]))
        self.query_one("#latency", Plot).show(ages, latency, f"latency ms, last {span}")
        self.query_one("#rps", Plot).show(ages, rps, f"requests/s, last {span}")
        self.query_one("#cpu", Plot).show(ages, cpu, f"CPU %, last {span}")

    # Actions

    def selected(self) -> str | None:
        return self.query_one("#deployments", LiveTable).selected_key()

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
        self.app.copy_to_clipboard(str(self.view.get("scoring_uri")))
        self.notify("scoring URI copied to the clipboard")

    def action_logs(self) -> None:
        from epdev.tui.screens.logs import LogsScreen

        name = self.selected()
        if name is None:
            self.notify("no deployment selected")
            return
        view = next((d for d in self.deployments if d["name"] == name), {})
        count = int(view.get("instance_count") or 1)
        instances = [f"{name}-{i}" for i in range(count)]
        self.app.push_screen(LogsScreen(self.endpoint_name, name, instances))

    def action_invoke(self) -> None:
        from epdev.tui.screens.invoke import InvokeScreen

        names = [str(d["name"]) for d in self.deployments]
        self.app.push_screen(InvokeScreen(self.endpoint_name, names))

    def action_traffic(self) -> None:
        from epdev.tui.screens.traffic import TrafficScreen

        if self.view is None or not self.deployments:
            self.notify("no deployments to send traffic to")
            return
        names = [str(d["name"]) for d in self.deployments]
        self.app.push_screen(
            TrafficScreen(
                self.endpoint_name,
                names,
                self.view.get("traffic") or {},
                self.view.get("mirror_traffic") or {},
            )
        )

    def action_deploy(self) -> None:
        from epdev.tui.screens.deploy import DeployScreen

        self.app.push_screen(DeployScreen())

    def action_delete(self) -> None:
        name = self.selected()
        if name is None or self.view is None:
            return
        share = (self.view.get("traffic") or {}).get(name, 0)
        warning = (
            f"\n[yellow]It carries {share}% of the traffic: move that first (t).[/yellow]"
            if share
            else ""
        )

        question = f"Delete deployment [b]{escape(name)}[/b] of {escape(self.endpoint_name)}?"
        confirm_then(self.app, "Delete deployment", question + warning, lambda: self.delete(name))

    @work(exit_on_error=False, group="change")
    async def delete(self, name: str) -> None:
        call = self.epdev.source.delete_deployment(self.endpoint_name, name)
        await report(self, call, f"deleted deployment {name}", f"could not delete {name}")

    def on_done(self, message: Done) -> None:
        self.notify(message.text)
        self.refresh_now()
