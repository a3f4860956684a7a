"""What the endpoint view does to one of its deployments: logs, describe, scale, restart,
delete, all traffic to it, and the `:` command line that names them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from textual import work
from textual.screen import Screen

from epdev.devserver import views
from epdev.tui.changes import confirm_then, report
from epdev.tui.widgets.live_table import LiveTable

if TYPE_CHECKING:
    from epdev.tui.app import EpdevApp


class DeploymentActions(Screen[None]):
    """The endpoint view's actions on a deployment: the selected one, or one named on the
    command line. The view binds their keys and keeps what they read up to date."""

    endpoint_name: str
    view: views.EndpointView | None
    """The endpoint, once loaded."""
    deployments: list[views.DeploymentView]

    @property
    def epdev(self) -> EpdevApp:
        return self.app  # type: ignore[return-value]

    def selected(self) -> str | None:
        return self.query_one("#deployments", LiveTable).selected_key()

    def _selected_name(self) -> str | None:
        name = self.selected()
        if name is None:
            self.notify("no deployment selected")
        return name

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

    def action_describe(self, name: str | None = None) -> None:
        from epdev.tui.screens.describe import DescribeScreen

        target = name or self.selected()
        if target is None:
            self.notify("no deployment selected")
            return
        self.app.push_screen(DescribeScreen(self.endpoint_name, target))

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
