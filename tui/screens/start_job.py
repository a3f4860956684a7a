"""`s` in the batch jobs view: start a job from a form (endpoint, deployment, input, mini-batch
size), as `epdev batch-endpoint invoke` does. Dismisses with the request, or None."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Input, Select, Static

from epdev.devserver import views


class StartJobScreen(ModalScreen[dict[str, Any] | None]):
    AUTO_FOCUS = "#input"
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "start", "Start"),
    ]

    def __init__(self, endpoints: list[views.BatchEndpointView], cwd: Path) -> None:
        super().__init__()
        self.endpoints = {e.name: e for e in endpoints}
        self.cwd = cwd

    def compose(self) -> ComposeResult:
        names = list(self.endpoints)
        with Vertical(id="dialog"):
            yield Static("[b]Start a batch job[/b]", classes="title")
            yield Select([(n, n) for n in names], value=names[0], allow_blank=False, id="endpoint")
            yield Input(placeholder="input: a file or folder (or azureml:NAME@latest)", id="input")
            yield Input(placeholder="deployment (the endpoint's default)", id="deployment")
            yield Input(placeholder="mini-batch size (the deployment's)", id="mini-batch")
            yield Static("", id="problem")
            yield Static("[b]enter[/b] starts   [b]esc[/b] cancels", classes="hint")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_start()

    def action_start(self) -> None:
        value = self.query_one("#input", Input).value.strip()
        problem = self.query_one("#problem", Static)
        if not value:
            problem.update("[red]name the input: a file or a folder of files[/red]")
            return
        size_text = self.query_one("#mini-batch", Input).value.strip()
        size = None
        if size_text:
            if not size_text.isdigit() or int(size_text) < 1:
                problem.update(f"[red]mini-batch size {size_text!r} is not a count of 1 or more")
                return
            size = int(size_text)
        if "://" not in value and not value.startswith("azureml:"):
            path = Path(value).expanduser()
            value = str(path if path.is_absolute() else self.cwd / path)
        self.dismiss(
            {
                "endpoint": str(self.query_one("#endpoint", Select).value),
                "input": value,
                "deployment_name": self.query_one("#deployment", Input).value.strip() or None,
                "mini_batch_size": size,
            }
        )

    def action_cancel(self) -> None:
        self.dismiss(None)
