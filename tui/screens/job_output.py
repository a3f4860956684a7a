"""`o` in the batch jobs view: where a job's output went, and its first lines."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Log, Static

from epdev.devserver import views
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.footer import Footer

HEAD_BYTES = 256 * 1024
"""Read at most this much of the output: an output file can be large."""


def _head(path: Path) -> tuple[list[str], bool]:
    with path.open("rb") as handle:
        data = handle.read(HEAD_BYTES + 1)
    cut = len(data) > HEAD_BYTES
    lines = data[:HEAD_BYTES].decode("utf-8", "replace").splitlines()
    return (lines[:-1] if cut else lines), cut


@dataclass
class OutputRead(Message):
    lines: list[str]


class JobOutputScreen(Screen[None]):
    AUTO_FOCUS = "#output"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("c", "copy_path", "Copy path"),
    ]

    def __init__(self, job: views.JobView) -> None:
        super().__init__()
        self.job = job
        self.file = job.outputs.file or ""

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield Static(
            f"[b]output[/b] of {escape(self.job.name)} · {escape(self.file or '-')}",
            id="status",
            classes="status",
        )
        yield Log(id="output", max_lines=10_000)
        yield Footer()

    def on_mount(self) -> None:
        self.load()

    @work(exclusive=True, exit_on_error=False, group="load")
    async def load(self) -> None:
        if not self.file:
            self.post_message(OutputRead(["this job names no output file"]))
            return
        try:
            lines, cut = await asyncio.to_thread(_head, Path(self.file))
        except OSError as exc:
            self.post_message(OutputRead([f"no output yet at {self.file}: {exc.strerror}"]))
            return
        if cut:
            lines.append(f"… (the first {HEAD_BYTES // 1024} KiB; the rest is in the file)")
        self.post_message(OutputRead(lines))

    def on_output_read(self, message: OutputRead) -> None:
        self.query_one("#output", Log).write_lines(message.lines)

    def action_back(self) -> None:
        self.dismiss(None)

    def action_copy_path(self) -> None:
        if self.file:
            self.app.copy_to_clipboard(self.file)
            self.notify("output path copied to the clipboard")
