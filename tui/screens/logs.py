"""A deployment's logs: follows new lines, pauses while scrolled up, filters, picks an instance."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Log, Static

from epdev.tui.messages import Reachability
from epdev.tui.source import ClientError, NotRunning
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.footer import Footer

if TYPE_CHECKING:
    from epdev.tui.app import EpdevApp

KEEP_LINES = 5000
"""Lines kept in memory and on screen: a chatty deployment must not grow the dashboard."""
BACKLOG = 200
"""Lines of history shown when the pane opens or switches instance."""


class _Pane(Log):
    """The log itself. `end` jumps to the last line at once: an animated scroll aims at the
    last line as it was when it started, so a line written meanwhile left the pane paused one
    line short of the end, with nothing left to resume it."""

    def action_scroll_end(self) -> None:
        self.scroll_end(animate=False, immediate=True, x_axis=False)


@dataclass
class LogLines(Message):
    lines: list[str]
    generation: int


@dataclass
class LogEnded(Message):
    text: str
    generation: int


class LogsScreen(Screen[None]):
    AUTO_FOCUS = "#log"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("slash", "filter", "Filter"),
        Binding("i", "instance", "Instance"),
        Binding("end,G", "follow", "Follow"),
        Binding("home,g", "top", "Top", show=False),
    ]

    def __init__(self, endpoint: str, deployment: str, instances: list[str]) -> None:
        super().__init__()
        self.endpoint = endpoint
        self.deployment = deployment
        self.instances: list[str | None] = [None, *instances]
        self.instance: str | None = None
        self.filter = ""
        self.lines: deque[str] = deque(maxlen=KEEP_LINES)
        self.unseen = 0
        self.ended: str | None = None
        self._generation = 0

    @property
    def epdev(self) -> EpdevApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield Static(id="status", classes="status")
        yield Input(placeholder="show only lines containing… (esc clears)", id="filter")
        yield _Pane(id="log", max_lines=KEEP_LINES, auto_scroll=True)
        yield Footer()

    def on_mount(self) -> None:
        log = self.query_one("#log", Log)
        self.watch(log, "scroll_y", lambda _: self._show_status(), init=False)
        self._start()

    def _start(self) -> None:
        self._generation += 1
        self.lines.clear()
        self.unseen = 0
        self.ended = None
        self.query_one("#log", Log).clear()
        self._show_status()
        self.follow(self.instance, self._generation)

    @work(exclusive=True, exit_on_error=False, group="follow")
    async def follow(self, instance: str | None, generation: int) -> None:
        partial = ""
        try:
            async for chunk in self.epdev.source.follow_logs(
                self.endpoint, self.deployment, BACKLOG, instance
            ):
                text = partial + chunk
                *complete, partial = text.split("\n")
                if complete:
                    self.post_message(LogLines(complete, generation))
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            self.post_message(LogEnded("the devserver went away", generation))
            return
        except ClientError as exc:
            self.post_message(LogEnded(str(exc), generation))
            return
        if partial:
            self.post_message(LogLines([partial], generation))
        self.post_message(LogEnded("the deployment is gone", generation))

    def on_log_lines(self, message: LogLines) -> None:
        if message.generation != self._generation:
            return
        self.lines.extend(message.lines)
        shown = [line for line in message.lines if self._matches(line)]
        if not shown:
            return
        log = self.query_one("#log", Log)
        if not log.is_vertical_scroll_end:
            self.unseen += len(shown)
        log.write_lines(shown)
        self._show_status()

    def on_log_ended(self, message: LogEnded) -> None:
        if message.generation == self._generation:
            self.ended = message.text
            self._show_status()

    def _matches(self, line: str) -> bool:
        return not self.filter or self.filter.lower() in line.lower()

    @property
    def following(self) -> bool:
        return self.query_one("#log", Log).is_vertical_scroll_end

    def _show_status(self) -> None:
        log = self.query_one("#log", Log)
        if log.is_vertical_scroll_end:
            self.unseen = 0
        parts = [self.heading()]
        if self.ended:
            parts.append(f"[yellow]stopped: {escape(self.ended)}[/yellow]")
        elif log.is_vertical_scroll_end:
            parts.append("[green]following[/green]")
        else:
            more = f", {self.unseen} new lines below" if self.unseen else ""
            parts.append(f"[yellow]paused{more}[/yellow] (end resumes)")
        if self.filter:
            parts.append(f"filter: {escape(self.filter)}")
        self.query_one("#status", Static).update(" · ".join(parts))

    def heading(self) -> str:
        where = self.instance or "all instances"
        return f"[b]logs[/b] {escape(self.endpoint)}/{escape(self.deployment)} · {where}"

    # Actions

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display:
            self._set_filter("")
            return
        self.dismiss(None)

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._set_filter(event.value.strip(), hide=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self.query_one("#log").focus()
        if not event.value:
            event.input.display = False

    def _set_filter(self, text: str, hide: bool = True) -> None:
        self.filter = text
        box = self.query_one("#filter", Input)
        if hide and not text:
            box.value = ""
            box.display = False
            self.query_one("#log").focus()
        log = self.query_one("#log", Log)
        log.clear()
        log.write_lines([line for line in self.lines if self._matches(line)])
        log.scroll_end(animate=False)
        self._show_status()

    def action_instance(self) -> None:
        index = self.instances.index(self.instance)
        self.instance = self.instances[(index + 1) % len(self.instances)]
        self._start()

    def action_follow(self) -> None:
        self.query_one("#log", _Pane).action_scroll_end()
        self.unseen = 0
        self._show_status()

    def action_top(self) -> None:
        self.query_one("#log", Log).scroll_home(animate=False)
        self._show_status()
