"""`?`: the keys of the screen underneath, and how the dashboard behaves."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

ABOUT = (
    "↑/↓ or j/k move · enter opens · esc goes back · tab moves between panes · ctrl+r "
    "refreshes now (r too, except in an endpoint's view, where r restarts).\n"
    "Data refreshes about once a second. Every change asks before it is sent.\n"
    "Columns: TRAFFIC live share (and mirror % copied) · INSTANCES ready/wanted · STATE "
    "Creating, Updating, Succeeded, Failed, Deleting · HEALTH what the probes say: Healthy, "
    "Degraded (an instance not ready), CrashLoop; ↻N restarts since start · RPS requests/s · "
    "P50/P99 latency · ERRORS share of 4xx/5xx · COST per hour, as the cloud SKU would bill.\n"
    "Narrow terminals drop the least needed columns first and show one chart at a time (g). "
    "With --read-only, changing keys are hidden. An unreachable devserver shows a red banner "
    "saying how to start one, and is retried every second."
)


class HelpScreen(ModalScreen[None]):
    """One for the app's life, shown again with the keys of the moment at each `?`.

    A new screen at each `?` left its widgets, their rendered lines and style nodes as cyclic
    garbage when closed: over live graphs, most of what the full collections that delay a key
    had to free.
    """

    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self) -> None:
        super().__init__()
        self.keys: list[tuple[str, str]] = []

    def compose(self) -> ComposeResult:
        # Scrolls when taller than the terminal (80x24 lists an endpoint view's keys and more).
        with VerticalScroll(id="dialog"):
            yield Static("[b]Keys[/b]", classes="title")
            yield Static(self._table(), id="keys")
            yield Static(ABOUT, classes="hint")

    def show_keys(self, keys: list[tuple[str, str]]) -> None:
        """The keys to list from now on (the first of each key wins)."""
        if keys == self.keys:
            return
        self.keys = keys
        # Before its first showing the screen has no children yet: compose reads `keys`.
        for shown in self.query("#keys").results(Static):
            shown.update(self._table())

    def _table(self) -> Table:
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        seen: set[str] = set()
        for key, description in self.keys:
            if key not in seen:
                seen.add(key)
                table.add_row(key, description)
        return table

    def action_close(self) -> None:
        self.dismiss(None)
