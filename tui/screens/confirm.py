"""A yes/no question before anything changes: enter or y confirms, esc or n goes back."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Static


class ConfirmScreen(ModalScreen[bool]):
    BINDINGS = [
        Binding("enter,y", "answer(True)", "Confirm"),
        Binding("escape,n", "answer(False)", "Cancel"),
    ]

    def __init__(self, title: str, question: str) -> None:
        super().__init__()
        self.heading = title
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(f"[b]{self.heading}[/b]", classes="title")
            yield Static(self.question, id="question")
            yield Static("[b]enter[/b] confirm   [b]esc[/b] cancel", classes="hint")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
