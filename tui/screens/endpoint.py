"""One endpoint: its deployments, live graphs over a window, scoring URI and key."""

from __future__ import annotations

import asyncio
import math
import time
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker

from epdev.devserver import views
from epdev.tui import format as fmt
from epdev.tui.changes import confirm_then, report
from epdev.tui.colours import colour_of
from epdev.tui.messages import Done, EndpointGone, EndpointLoaded, Failed, Reachability
from epdev.tui.screens.endpoints import CHANGING_ACTIONS, state_cell
from epdev.tui.source import ClientError, NotRunning
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.footer import Footer
from epdev.tui.widgets.live_table import Cell, LiveTable
from epdev.tui.widgets.plot import Plot, Series, Style, Styles

if TYPE_CHECKING:
    from epdev.tui.app import EpdevApp

DEPLOYMENT_CHANGES = ("scale", "restart", "all_traffic", "regenerate_key", "command")

HEALTH_STYLES = {"Healthy": "green", "CrashLoop": "bold red"}


def health_cell(view: views.DeploymentView) -> Text:
    """The probes' verdict and the instances' restarts since start, e.g. `Healthy ↻2`."""
    state = view.health.state or "-"
    restarts = sum(i.restarts for i in view.health.instances)
    text = Text(state, style=HEALTH_STYLES.get(state, "yellow" if state != "-" else "dim"))
    if restarts:
        text.append(f" ↻{restarts}", style="yellow")
    return text


WINDOWS = (60, 300, 900, 3600)
"""Seconds the graphs span; `w` steps through them."""
POINTS = 60
"""Points per series at most; fewer when the charts are narrower (one per column)."""

CHARTS = (
    ("latency", "latency, ms"),
    ("rps", "requests/s"),
    ("errors", "errors/s"),
    ("cpu", "CPU, %"),
)
ALL_CHARTS_WIDTH = 140
"""Narrower than this, one chart at a time (`g` shows the next)."""


# Least needed first: narrow terminals drop these columns in this order.
DROP_ORDER = ("cost", "memory", "runtime", "cpu")
NARROW_TABLE = {100: 3, 80: 4}
"""Below each width, the number of DROP_ORDER's columns left out."""


def _errors_per_second(series: views.Series) -> list[float | None]:
    return [
        None if rate is None or rps is None else round(rate * rps, 3)
        for rate, rps in zip(series.error_rate, series.rps, strict=False)
    ]


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

# Long windows have coarse steps; re-reading them every second would only redraw the same
# points, so the series are fetched once per step, but at least every couple of seconds so
# the newest (partial) point stays live.
MAX_METRICS_AGE = 2.0


class EndpointScreen(Screen[None]):
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
        self.chart = CHARTS[0][0]
        """The chart shown when only one fits."""
        self._dropped = 0

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
            for chart, title in CHARTS:
                yield Plot(title, id=chart)
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
        # As many points as the chart has columns (at most POINTS): the series stays bounded,
        # and each window is downsampled to what the chart can show.
        return max(1, math.ceil(self.window / self._points()))

    def _points(self) -> int:
        plot = self.query_one(f"#{self.chart}", Plot)
        columns = plot.size.width - 8  # the y axis' labels
        return max(20, min(POINTS, columns)) if plot.size.width else POINTS

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
        table = self.query_one("#deployments", LiveTable)
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

    def _show_rows(self) -> dict[str, tuple[Cell, ...]]:
        traffic = self.view.traffic if self.view else {}
        mirror = self.view.mirror_traffic if self.view else {}
        gone = set(DROP_ORDER[: self._dropped])
        keep = [i for i, (_, key) in enumerate(COLUMNS) if key not in gone]
        rows = {}
        for d in self.deployments:
            cells = self._row(d, traffic, mirror)
            rows[d.name] = tuple(cells[i] for i in keep)
        self.query_one("#deployments", LiveTable).sync(rows)
        return rows

    def on_endpoint_gone(self, message: EndpointGone) -> None:
        self.notify(f"endpoint {message.name} is gone: {message.text}", severity="warning")
        if self.is_current:
            self.dismiss(None)

    def _row(
        self, view: views.DeploymentView, traffic: dict[str, int], mirror: dict[str, int]
    ) -> tuple[Cell, ...]:
        name = view.name
        share = traffic.get(name, 0)
        copies = f" (mirror {mirror[name]}%)" if mirror.get(name) else ""
        state = view.provisioning_state
        figures = view.metrics
        colour = colour_of(name, self._names())
        return (
            Text("■ ", style=colour) + Text(name, style="bold"),
            Text(f"{share}%{copies}", style="bold" if share or copies else "dim"),
            view.runtime,
            fmt.instances(view),
            state_cell(state),
            health_cell(view),
            fmt.cpu(figures.cpu_percent if figures else None),
            fmt.memory(figures.memory_bytes if figures else None),
            fmt.rps(figures.rps if figures else None),
            fmt.ms(figures.p99_ms if figures else None),
            fmt.money(view.cost),
        )

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

    def _show_graphs(self, report: views.EndpointMetrics) -> None:
        step = report.step_seconds
        count = len(report.timestamps)
        ages = [float(-(count - 1 - i) * step) for i in range(count)]
        blocks = report.deployments
        names = self._names()
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

    def _names(self) -> list[str]:
        return (self.view.deployments if self.view else []) or [d.name for d in self.deployments]

    # Narrow terminals

    def on_resize(self) -> None:
        self._fit(self.size.width)

    def _fit(self, width: int) -> None:
        """All charts side by side when they fit, else one at a time; the table keeps its
        most needed columns."""
        one = width < ALL_CHARTS_WIDTH
        for chart, _ in CHARTS:
            self.query_one(f"#{chart}", Plot).display = not one or chart == self.chart
        dropped = next((n for limit, n in sorted(NARROW_TABLE.items()) if width < limit), 0)
        if dropped != self._dropped:
            self._dropped = dropped
            gone = set(DROP_ORDER[:dropped])
            self.query_one("#deployments", LiveTable).set_columns(
                [(label, key) for label, key in COLUMNS if key not in gone]
            )
            if self.view is not None:
                self._show_rows()

    def action_graph(self) -> None:
        keys = [chart for chart, _ in CHARTS]
        self.chart = keys[(keys.index(self.chart) + 1) % len(keys)]
        self._fit(self.size.width)

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
        self.app.copy_to_clipboard(self.view.scoring_uri)
        self.notify("scoring URI copied to the clipboard")

    def action_logs(self) -> None:
        from epdev.tui.screens.logs import LogsScreen

        name = self.selected()
        if name is None:
            self.notify("no deployment selected")
            return
        view = next((d for d in self.deployments if d.name == name), None)
        count = view.instance_count if view else 1
        instances = [f"{name}-{i}" for i in range(count)]
        self.app.push_screen(LogsScreen(self.endpoint_name, name, instances))

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

    def action_delete(self) -> None:
        name = self.selected()
        if name is None or self.view is None:
            return
        share = self.view.traffic.get(name, 0)
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

    # Daily actions on the selected deployment

    def _selected_name(self) -> str | None:
        name = self.selected()
        if name is None:
            self.notify("no deployment selected")
        return name

    def action_scale(self, name: str | None = None) -> None:
        from epdev.tui.screens.prompt import PromptScreen

        target = self._selected_name() if name is None else name
        if target is None:
            return
        view = next((d for d in self.deployments if d.name == target), None)
        now = view.instance_count if view else None

        def answered(text: str | None) -> None:
            if text is None:
                return
            try:
                count = int(text)
            except ValueError:
                count = 0
            if count < 1:
                self.notify(f"not scaled: {text!r} is not a count of 1 or more", severity="error")
                return
            self.scale(target, count)

        self.app.push_screen(
            PromptScreen(
                f"Scale {target}",
                f"instances now: {now if now is not None else '?'} · enter scales · esc cancels",
                value=str(now or ""),
            ),
            answered,
        )

    @work(exit_on_error=False, group="change")
    async def scale(self, name: str, count: int) -> None:
        call = self.epdev.source.update_deployment(
            self.endpoint_name, name, overrides={"instance_count": count}
        )
        noun = "instance" if count == 1 else "instances"
        await report(self, call, f"scaling {name} to {count} {noun}", f"could not scale {name}")

    def action_restart(self, name: str | None = None) -> None:
        target = name or self.selected()
        if target is None:
            self.notify("no deployment selected")
            return
        question = (
            f"Restart [b]{escape(target)}[/b]? New instances start with the same spec and take "
            "over once ready; the old ones then stop."
        )
        confirm_then(self.app, "Restart deployment", question, lambda: self.restart(target))

    @work(exit_on_error=False, group="change")
    async def restart(self, name: str) -> None:
        call = self.epdev.source.restart_deployment(self.endpoint_name, name)
        await report(self, call, f"restarting {name}", f"could not restart {name}")

    def action_describe(self, name: str | None = None) -> None:
        from epdev.tui.screens.describe import DescribeScreen

        target = name or self.selected()
        if target is None:
            self.notify("no deployment selected")
            return
        self.app.push_screen(DescribeScreen(self.endpoint_name, target))

    def action_all_traffic(self, name: str | None = None) -> None:
        target = name or self.selected()
        if target is None or self.view is None:
            return
        names = [d.name for d in self.deployments]
        self.ask_traffic({n: 100 if n == target else 0 for n in names})

    def ask_traffic(self, proposed: dict[str, int]) -> None:
        if self.view is None:
            return
        before = self.view.traffic
        rows = [
            f"  {escape(n):<16} {before.get(n, 0):>3}%  →  {p:>3}%" for n, p in proposed.items()
        ]
        confirm_then(
            self.app,
            f"Apply traffic to {self.endpoint_name}",
            "\n".join(rows),
            lambda: self.send_traffic(proposed),
        )

    @work(exit_on_error=False, group="change")
    async def send_traffic(self, proposed: dict[str, int]) -> None:
        call = self.epdev.source.update_endpoint(self.endpoint_name, traffic=proposed)
        shown = " · ".join(f"{n} {p}%" for n, p in proposed.items())
        await report(
            self, call, f"{self.endpoint_name}: traffic now {shown}", "traffic not changed"
        )

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

    def action_command(self) -> None:
        from epdev.tui.commands import USAGE
        from epdev.tui.screens.prompt import PromptScreen

        self.app.push_screen(
            PromptScreen(":", USAGE, placeholder="scale green 3"), self.run_command
        )

    def run_command(self, line: str | None) -> None:
        from epdev.tui.commands import CommandError, parse

        if not line:
            return
        try:
            command = parse(line, [d.name for d in self.deployments])
        except CommandError as exc:
            self.notify(str(exc), severity="error")
            return
        if command.verb == "scale" and command.deployment and command.count:
            self.scale(command.deployment, command.count)
        elif command.verb == "traffic":
            self.ask_traffic(command.traffic)
        elif command.verb == "all":
            self.action_all_traffic(command.deployment)
        elif command.verb == "restart":
            self.action_restart(command.deployment)
        elif command.verb == "describe":
            self.action_describe(command.deployment)
        elif command.verb == "logs":
            table = self.query_one("#deployments", LiveTable)
            names = [d.name for d in self.deployments]
            table.move_cursor(row=names.index(str(command.deployment)), animate=False)
            self.action_logs()
