"""Send a request file to the endpoint (or one deployment) and show what came back."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from rich.syntax import Syntax
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Select, Static

from epdev.tui.messages import Failed, Reachability
from epdev.tui.source import ClientError, NotRunning
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.footer import Footer

if TYPE_CHECKING:
    from epdev.tui.app import EpdevApp

SPLIT = "(traffic split)"
MAX_SHOWN = 200_000
"""Characters of a response body shown; a huge answer must not stall the screen."""


@dataclass
class Answered(Message):
    status: int
    deployment: str | None
    latency_ms: float
    body: str
    request_id: str | None


class InvokeScreen(Screen[None]):
    AUTO_FOCUS = "#file"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+s", "send", "Send"),
        Binding("ctrl+l", "request_logs", "Request's log lines"),
    ]

    def __init__(self, endpoint: str, deployments: list[str]) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.deployments = deployments
        self.response: Syntax | str = ""
        self.answer: Answered | None = None

    @property
    def epdev(self) -> EpdevApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield Static(
            f"[b]Invoke {escape(self.endpoint)}[/b] · enter or ctrl+s sends · "
            "pick a deployment to bypass the split",
            classes="status",
        )
        with Horizontal(id="request"):
            yield Input(
                value=self.epdev.last_request_file or "",
                placeholder="request file, e.g. sample-request.json",
                id="file",
            )
            options = [(SPLIT, SPLIT), *((name, name) for name in self.deployments)]
            yield Select(options, value=SPLIT, allow_blank=False, id="target")
        yield Static("", id="outcome", classes="status")
        with VerticalScroll(id="response"):
            yield Static("", id="body")
        yield Footer()

    def action_back(self) -> None:
        self.dismiss(None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "request_logs":
            answer = self.answer
            return (answer is not None and bool(answer.deployment and answer.request_id)) or None
        return True

    def action_request_logs(self) -> None:
        """The lines the answering instance wrote while the call ran: a failed run()'s
        traceback, found by the call's x-request-id in the devserver's access log."""
        from epdev.tui.screens.logs import LogsScreen

        answer = self.answer
        if answer is None or not answer.deployment or not answer.request_id:
            return
        self.app.push_screen(
            LogsScreen(self.endpoint, answer.deployment, [], request_id=answer.request_id)
        )

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.action_send()

    def action_send(self) -> None:
        path = self.query_one("#file", Input).value.strip()
        if not path:
            self.notify("name a request file first", severity="warning")
            return
        target = self.query_one("#target", Select).value
        deployment = None if target == SPLIT else str(target)
        self.epdev.last_request_file = path
        self.query_one("#outcome", Static).update("sending…")
        self.send(path, deployment)

    @work(exclusive=True, exit_on_error=False, group="invoke")
    async def send(self, path: str, deployment: str | None) -> None:
        file = Path(path).expanduser()
        if not file.is_absolute():
            file = self.epdev.cwd / file
        try:
            body = file.read_bytes()
        except OSError as exc:
            self.post_message(Failed(f"cannot read {path}: {exc.strerror}"))
            return
        started = time.perf_counter()
        try:
            response = await self.epdev.source.invoke(self.endpoint, body, deployment=deployment)
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            return
        except ClientError as exc:
            self.post_message(Failed(str(exc)))
            return
        try:
            # The scoring call alone, without the look-ups of URI and key before it.
            latency = response.elapsed.total_seconds() * 1000
        except RuntimeError:
            latency = (time.perf_counter() - started) * 1000
        self.post_message(
            Answered(
                response.status_code,
                response.headers.get("azureml-model-deployment"),
                latency,
                response.text,
                response.headers.get("x-request-id"),
            )
        )

    def on_failed(self, message: Failed) -> None:
        self.query_one("#outcome", Static).update(f"[red]{escape(message.text)}[/red]")

    def on_answered(self, message: Answered) -> None:
        colour = "green" if message.status < 400 else "red"
        answered_by = message.deployment or "(no deployment)"
        hint = " · ctrl+l shows its log lines" if message.status >= 500 else ""
        self.query_one("#outcome", Static).update(
            f"[{colour}]HTTP {message.status}[/{colour}] · answered by [b]"
            f"{escape(answered_by)}[/b] · {message.latency_ms:.0f} ms · "
            f"x-request-id {escape(message.request_id or '-')}{hint}"
        )
        self.answer = message
        self.refresh_bindings()
        self.response = _pretty(message.body)
        self.query_one("#body", Static).update(self.response)


def _pretty(body: str) -> Syntax | str:
    try:
        parsed = json.loads(body)
    except ValueError:
        return escape(body[:MAX_SHOWN])
    return Syntax(json.dumps(parsed, indent=2)[:MAX_SHOWN], "json", theme="ansi_dark")
