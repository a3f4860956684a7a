"""Traffic sliders: shift an endpoint's split with the arrow keys, confirm, then send it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, Static

from epdev.tui import split
from epdev.tui.messages import Done, Failed
from epdev.tui.screens.confirm import ConfirmScreen
from epdev.tui.source import ClientError
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.slider import TrafficSlider

if TYPE_CHECKING:
    from epdev.tui.app import EpdevApp


class TrafficScreen(Screen[bool]):
    """Dismisses with True once a new split was applied, False when discarded."""

    AUTO_FOCUS = "TrafficSlider"
    BINDINGS = [
        Binding("enter", "apply", "Apply"),
        Binding("escape", "discard", "Discard"),
        Binding("0", "zero", "All to 0"),
        Binding("up", "app.focus_previous", "Previous", show=False),
        Binding("down", "app.focus_next", "Next", show=False),
    ]

    def __init__(self, endpoint: str, deployments: list[str], traffic: dict[str, int]) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.names = list(deployments)
        self.before = split.normalized(traffic, self.names)
        self.split = dict(self.before)
        self._sending = False

    @property
    def epdev(self) -> EpdevApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield Static(
            f"[b]Traffic of {escape(self.endpoint)}[/b] · ←/→ move 1 · shift+←/→ move 10 · "
            "↑/↓ pick a deployment · the others rebalance so the total stays 100",
            classes="status",
        )
        with Vertical(id="sliders"):
            for name in self.names:
                yield TrafficSlider(name, self.split[name], self.before[name])
        yield Static(id="total", classes="status")
        yield Footer()

    def on_mount(self) -> None:
        self._show_total()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return not (action in ("apply", "zero") and self.epdev.read_only)

    def on_traffic_slider_nudged(self, message: TrafficSlider.Nudged) -> None:
        if self.epdev.read_only:
            return
        self._set(split.nudge(self.split, message.deployment, message.delta))

    def action_zero(self) -> None:
        self._set(split.zeroed(self.split))

    def _set(self, new: dict[str, int]) -> None:
        if not split.is_valid(new, self.names):
            return  # cannot happen by construction; never show a split we would not send
        self.split = new
        for slider in self.query(TrafficSlider):
            slider.value = new[slider.deployment]
        self._show_total()

    def _show_total(self) -> None:
        total = sum(self.split.values())
        changed = self.split != self.before
        note = "[yellow]changed: enter to apply, esc to discard[/yellow]" if changed else ""
        state = "no traffic anywhere (all 0)" if total == 0 else f"total {total}%"
        self.query_one("#total", Static).update(f"{state}   {note}")

    def action_discard(self) -> None:
        self.dismiss(False)

    def action_apply(self) -> None:
        if self._sending:
            return
        if self.split == self.before:
            self.notify("the split is unchanged; nothing to apply")
            return
        if not split.is_valid(self.split, self.names):
            self.notify("this split does not add up to 100; not sent", severity="error")
            return
        rows = "\n".join(
            f"  {escape(name):<16} {self.before[name]:>3}%  →  {self.split[name]:>3}%"
            for name in self.names
        )
        proposed = dict(self.split)

        def answered(yes: bool | None) -> None:
            if yes:
                self._sending = True
                self.send(proposed)

        self.app.push_screen(
            ConfirmScreen(f"Apply traffic to {self.endpoint}", f"{rows}"), answered
        )

    @work(exclusive=True, exit_on_error=False, group="change")
    async def send(self, proposed: dict[str, int]) -> None:
        # Checked again right before the call: only a valid split ever leaves the dashboard.
        if not split.is_valid(proposed, self.names):
            self.post_message(Failed("refused to send an invalid split"))
            return
        try:
            await self.epdev.source.update_endpoint(self.endpoint, traffic=proposed)
        except ClientError as exc:
            self.post_message(Failed(f"traffic not changed: {exc}"))
            return
        shown = " · ".join(f"{n} {p}%" for n, p in proposed.items())
        self.post_message(Done(f"{self.endpoint}: traffic now {shown}"))

    def on_failed(self, message: Failed) -> None:
        self._sending = False

    def on_done(self, message: Done) -> None:
        self.notify(message.text)
        self.dismiss(True)
