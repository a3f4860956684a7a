"""`?`: the keys of the screen underneath, and how the dashboard behaves."""

from __future__ import annotations

from rich.table import Table
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static

ABOUT = (
    "↑/↓ move · enter opens · esc goes back · tab moves between panes · r refreshes now\n"
    "Data refreshes about once a second. Every change asks before it is sent.\n"
    "With --read-only, changing keys are hidden. An unreachable devserver shows a red\n"
    "banner and is retried every second."
)


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "close", "Close")]

    def __init__(self, keys: list[tuple[str, str]]) -> None:
        super().__init__()
        self.keys = keys

    def compose(self) -> ComposeResult:
        table = Table(show_header=False, box=None, padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True)
        table.add_column()
        seen: set[str] = set()
        for key, description in self.keys:
            if key not in seen:
                seen.add(key)
                table.add_row(key, description)
        with Vertical(id="dialog"):
            yield Static("[b]Keys[/b]", classes="title")
            yield Static(table)
            yield Static(ABOUT, classes="hint")

    def action_close(self) -> None:
        self.dismiss(None)
