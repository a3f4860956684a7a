"""Deploy from a spec: pick a YAML file (or a folder of them, as `epdev apply -f DIR`), see its
errors with line numbers, edit it in $EDITOR, choose the runtime and traffic, then apply it."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import events, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import Screen
from textual.widgets import Checkbox, DirectoryTree, Input, Log, Select, Static

from epdev.specs import LoadedSpec
from epdev.tui.messages import Reachability
from epdev.tui.source import NotRunning
from epdev.tui.spec_apply import Landed, Progress, apply_specs, phase_of
from epdev.tui.spec_check import Checked, check_spec
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.footer import Footer
from epdev.tui.widgets.spec_tree import SpecTree

if TYPE_CHECKING:
    from epdev.tui.app import EpdevApp

RUNTIMES = ("process", "venv", "docker")

DEFAULT_RUNTIME = "(the devserver's default)"


class DeployScreen(Screen[None]):
    AUTO_FOCUS = "#tree"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+r", "recheck", "Check again"),
        Binding("ctrl+s", "apply", "Apply"),
        Binding("e", "edit", "Edit in $EDITOR"),
        Binding("ctrl+e", "edit", "Edit in $EDITOR", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.checked: Checked | None = None
        self.busy = False

    @property
    def epdev(self) -> EpdevApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        # Where the last spec was picked, else the folder epdev started in.
        root = self.epdev.last_deploy_folder or self.epdev.cwd
        yield Banner(id="banner")
        yield Static(
            f"[b]Deploy from a spec[/b] in ./{escape(root.name)} · pick a file or folder, or type "
            "its path · e edits it · ctrl+s applies what has no errors",
            classes="status",
        )
        # Not selected on focus: the first character typed in the tree lands there first.
        yield Input(
            placeholder="spec file or folder (enter checks it)", id="path", select_on_focus=False
        )
        with Horizontal(id="deploy"):
            yield SpecTree(root, id="tree")
            with Vertical(id="check"):
                with Horizontal(id="options"):
                    options = [(DEFAULT_RUNTIME, DEFAULT_RUNTIME), *((r, r) for r in RUNTIMES)]
                    yield Select(options, value=DEFAULT_RUNTIME, allow_blank=False, id="runtime")
                    yield Checkbox("all traffic to it", id="all-traffic")
                yield Static("no file chosen yet", id="verdict")
                yield Static("", id="phase", classes="status")
                yield Log(id="progress", max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#progress").display = False
        self.query_one("#phase").display = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "apply":
            ready = self.checked is not None and not self.checked.problems and not self.busy
            return True if ready else None
        return True

    def action_back(self) -> None:
        self.dismiss(None)

    # Picking a spec

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.query_one("#path", Input).value = str(event.path)
        self.check(event.path)

    def on_key(self, event: events.Key) -> None:
        """A path typed while the tree has the focus goes to the path box at once."""
        tree = self.query_one("#tree", SpecTree)
        if self.focused is not tree or not event.is_printable or event.character in (" ", "e"):
            return
        box = self.query_one("#path", Input)
        box.value = ""
        box.focus()
        box.insert_text_at_cursor(event.character or "")
        event.stop()
        event.prevent_default()

    def _typed(self) -> Path | None:
        value = self.query_one("#path", Input).value.strip()
        if not value:
            return None
        path = Path(value).expanduser()
        root = self.epdev.last_deploy_folder or self.epdev.cwd
        return path if path.is_absolute() else root / path

    def on_input_submitted(self, event: Input.Submitted) -> None:
        path = self._typed()
        if path is not None:
            self.check(path)

    def action_recheck(self) -> None:
        path = self._typed()
        if path is not None:
            self.check(path)

    def action_edit(self) -> None:
        """The spec in $EDITOR (the dashboard steps aside meanwhile), then checked again."""
        path = self._typed()
        if path is None:
            node = self.query_one("#tree", SpecTree).cursor_node
            path = node.data.path if node is not None and node.data is not None else None
        if path is None or path.is_dir():
            self.notify("pick a spec file to edit first", severity="warning")
            return
        editor = shlex.split(os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi")
        self.query_one("#path", Input).value = str(path)
        try:
            with self.app.suspend():
                subprocess.run([*editor, str(path)], check=False)
        except SuspendNotSupported:  # no terminal to give away (tests): run it as it is
            subprocess.run([*editor, str(path)], check=False, capture_output=True)
        except OSError as exc:
            self.notify(f"cannot run {editor[0]}: {exc.strerror}", severity="error")
            return
        self.check(path)

    # Checking it

    @work(exclusive=True, exit_on_error=False, group="check")
    async def check(self, path: Path) -> None:
        self.epdev.last_deploy_folder = path if path.is_dir() else path.parent
        try:
            checked = await check_spec(self.epdev.source, path, self.epdev.cwd)
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            checked = Checked(path, [str(exc)])
        self.post_message(checked)

    def on_checked(self, message: Checked) -> None:
        self.checked = message
        verdict = self.query_one("#verdict", Static)
        if message.problems:
            lines = "\n".join(f"[red]✗[/red] {escape(p)}" for p in message.problems)
            verdict.update(
                f"[b red]{len(message.problems)} problem(s)[/b red]\n{lines}\n\n"
                "fix the file, then ctrl+r checks it again"
            )
        else:
            verdict.update(
                f"[green]✓ valid[/green]: {escape(message.plan or '')}\nctrl+s applies it"
            )
        self.refresh_bindings()

    # Applying it, with its build's progress

    def action_apply(self) -> None:
        checked = self.checked
        if checked is None or checked.problems or checked.loaded is None or self.busy:
            self.notify("choose a file without errors first", severity="warning")
            return
        if self.epdev.read_only:
            return
        self.busy = True
        self.refresh_bindings()
        progress = self.query_one("#progress", Log)
        progress.display = True
        progress.clear()
        self._downloads = 0
        phase = self.query_one("#phase", Static)
        phase.display = True
        phase.update("[b]phase[/b]: sending the spec")
        runtime = self.query_one("#runtime", Select).value
        chosen = None if runtime == DEFAULT_RUNTIME else str(runtime)
        self.apply_all(checked.specs, chosen, self.query_one("#all-traffic", Checkbox).value)

    @work(exclusive=True, exit_on_error=False, group="apply")
    async def apply_all(
        self, specs: list[tuple[LoadedSpec, bool]], runtime: str | None, all_traffic: bool
    ) -> None:
        await apply_specs(self.epdev.source, specs, runtime, all_traffic, self.post_message)

    _downloads = 0

    def on_progress(self, message: Progress) -> None:
        self.query_one("#progress", Log).write_line(message.line)
        phase = phase_of(message.line, self._downloads)
        if phase is not None:
            if phase.startswith("downloading"):
                self._downloads += 1
            self.query_one("#phase", Static).update(f"[b]phase[/b]: {escape(phase)}")

    def on_landed(self, message: Landed) -> None:
        self.busy = False
        self.refresh_bindings()
        if not message.ok:
            self.query_one("#progress", Log).write_line(f"✗ {message.text}")
            self.notify(message.text, severity="error", timeout=8)
            return
        from epdev.tui.screens.endpoint import EndpointScreen

        self.notify(message.text)
        self.app.switch_screen(EndpointScreen(message.endpoint, select=message.deployment))
