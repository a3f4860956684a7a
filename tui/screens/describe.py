"""`d` on a deployment: its spec as stored, each instance's health and restarts, the last error,
and the endpoint's mirror report."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import yaml
from rich.console import Group, RenderableType
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static

from epdev.devserver import views
from epdev.tui.messages import Failed, Reachability
from epdev.tui.source import ClientError, NotRunning
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.footer import Footer

if TYPE_CHECKING:
    from epdev.tui.app import EpdevApp

# What the deployment view adds to the spec: shown as health and state, not as YAML.
_NOT_SPEC = {
    "endpoint_name",
    "provisioning_state",
    "error",
    "runtime",
    "watch",
    "ready_instances",
    "health",
    "source",
    "created_at",
    "updated_at",
    "cloud_only",
    "metrics",
    "cost",
}

HEALTH_STYLES = {"Ready": "green", "Healthy": "green", "CrashLoop": "bold red"}


class DescribeScreen(Screen[None]):
    AUTO_FOCUS = "#describe"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("y", "copy_yaml", "Copy YAML"),
    ]

    def __init__(self, endpoint: str, deployment: str) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.deployment = deployment
        self.spec_yaml = ""

    @property
    def epdev(self) -> EpdevApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield Static(
            f"[b]describe[/b] {escape(self.endpoint)}/{escape(self.deployment)} · loading…",
            id="status",
            classes="status",
        )
        with VerticalScroll(id="describe"):
            yield Static(id="body")
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False, group="load")
    async def load(self) -> None:
        source = self.epdev.source
        try:
            view, mirror = await asyncio.gather(
                source.get_deployment(self.endpoint, self.deployment),
                source.mirror_report(self.endpoint),
                return_exceptions=False,
            )
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            return
        except ClientError as exc:
            self.post_message(Failed(f"cannot describe {self.deployment}: {exc}"))
            return
        self.show(view, mirror)

    def show(self, view: views.DeploymentView, mirror: views.MirrorReport | None) -> None:
        spec = view.model_dump(mode="json", exclude=_NOT_SPEC)
        self.spec_yaml = yaml.safe_dump(spec, sort_keys=False)
        health = view.health
        state = view.provisioning_state
        overall = health.state
        self.query_one("#status", Static).update(
            f"[b]describe[/b] {escape(self.endpoint)}/{escape(self.deployment)} · {escape(state)}"
            f" · health {escape(overall)} · runtime {escape(view.runtime)}"
            " · y copies the YAML"
        )
        parts: list[RenderableType] = [Text("Instances", style="bold")]
        table = Table(box=None, padding=(0, 2), header_style="bold")
        for column in ("INSTANCE", "PROBE STATE", "RESTARTS", "PID", "LAST ERROR"):
            table.add_column(column, no_wrap=column != "LAST ERROR")
        for instance in health.instances:
            probe = instance.state
            table.add_row(
                instance.name,
                Text(probe, style=HEALTH_STYLES.get(probe, "yellow")),
                str(instance.restarts),
                str(instance.pid or "-"),
                instance.last_error or "",
            )
        parts.append(table if table.row_count else Text("  (no instance running)", style="dim"))
        error = view.error or health.last_error
        parts += [Text(""), Text("Last error", style="bold")]
        parts.append(Text(f"  {error}", style="red") if error else Text("  none", style="dim"))
        parts += [Text(""), Text("Mirror report", style="bold"), _mirror(mirror)]
        parts += [Text(""), Text("Spec as stored", style="bold")]
        parts.append(Syntax(self.spec_yaml, "yaml", theme="ansi_dark", word_wrap=True))
        self.query_one("#body", Static).update(Group(*parts))

    def action_back(self) -> None:
        self.dismiss(None)

    def action_copy_yaml(self) -> None:
        if self.spec_yaml:
            self.app.copy_to_clipboard(self.spec_yaml)
            self.notify("the deployment's YAML copied to the clipboard")


def _mirror(report: views.MirrorReport | None) -> RenderableType:
    if report is None:
        return Text("  no mirror traffic", style="dim")
    shown = report.model_dump(mode="json")
    lines = yaml.safe_dump(shown, sort_keys=False).rstrip("\n").splitlines()
    return Text("\n".join(f"  {line}" for line in lines))
