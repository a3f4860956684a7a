"""Deploy from a spec: pick a YAML file, see its errors with line numbers, then apply it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DirectoryTree, Input, Log, Static

from epdev.specs import LoadedSpec, SpecError, SpecIssue, load_spec
from epdev.tui.messages import Reachability
from epdev.tui.source import ClientError, NotRunning
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.footer import Footer

if TYPE_CHECKING:
    from epdev.tui.app import EpdevApp

SPEC_SUFFIXES = (".yml", ".yaml")
POLL_SECONDS = 0.5
READY_TIMEOUT = 900.0


class SpecTree(DirectoryTree):
    """Folders and YAML files only, without hidden folders (.git, .venv)."""

    def filter_paths(self, paths: Iterable[Path]) -> Iterable[Path]:
        return [
            p
            for p in paths
            if not p.name.startswith(".")
            and p.name not in ("node_modules", "__pycache__")
            and (p.is_dir() or p.suffix.lower() in SPEC_SUFFIXES)
        ]


@dataclass
class Checked(Message):
    """The outcome of checking a file: `problems` empty means it can be applied."""

    path: Path
    problems: list[str]
    plan: str | None = None
    loaded: LoadedSpec | None = None
    exists: bool = False


@dataclass
class Progress(Message):
    line: str


@dataclass
class Landed(Message):
    endpoint: str
    text: str
    ok: bool
    deployment: str | None = None


class DeployScreen(Screen[None]):
    AUTO_FOCUS = "#tree"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("ctrl+r", "recheck", "Check again"),
        Binding("ctrl+s", "apply", "Apply"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.checked: Checked | None = None
        self.busy = False

    @property
    def epdev(self) -> EpdevApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield Static(
            f"[b]Deploy from a spec[/b] in ./{escape(self.epdev.cwd.name)} · pick a file or type "
            "its path · ctrl+s applies a file without errors",
            classes="status",
        )
        yield Input(placeholder="spec file (enter checks it)", id="path")
        with Horizontal(id="deploy"):
            yield SpecTree(self.epdev.cwd, id="tree")
            with Vertical(id="check"):
                yield Static("no file chosen yet", id="verdict")
                yield Log(id="progress", max_lines=2000)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#progress").display = False

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "apply":
            ready = self.checked is not None and not self.checked.problems and not self.busy
            return True if ready else None
        return True

    def action_back(self) -> None:
        self.dismiss(None)

    def on_directory_tree_file_selected(self, event: DirectoryTree.FileSelected) -> None:
        self.query_one("#path", Input).value = str(event.path)
        self.check(event.path)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            path = Path(event.value.strip()).expanduser()
            self.check(path if path.is_absolute() else self.epdev.cwd / path)

    def action_recheck(self) -> None:
        value = self.query_one("#path", Input).value.strip()
        if value:
            path = Path(value).expanduser()
            self.check(path if path.is_absolute() else self.epdev.cwd / path)

    @work(exclusive=True, exit_on_error=False, group="check")
    async def check(self, path: Path) -> None:
        try:
            loaded = load_spec(path)
        except SpecError as exc:
            self.post_message(Checked(path, [self._issue(issue) for issue in exc.issues]))
            return
        except OSError as exc:
            self.post_message(Checked(path, [f"{self._shown(path)}: {exc.strerror}"]))
            return
        source = self.epdev.source
        data = _payload(loaded)
        try:
            endpoints = {e["name"]: e for e in await source.list_endpoints()}
            if loaded.kind == "online-endpoint":
                exists = loaded.name in endpoints
                without_split = {
                    k: v for k, v in data.items() if k not in ("traffic", "mirror_traffic")
                }
                await source.validate(loaded.kind, without_split)
                what = f"endpoint {loaded.name}"
            else:
                endpoint = str(data.get("endpoint_name") or "")
                if endpoint not in endpoints:
                    missing = f"endpoint {endpoint!r} does not exist; deploy its endpoint first"
                    self.post_message(Checked(path, [f"{self._shown(path)}: {missing}"]))
                    return
                exists = loaded.name in endpoints[endpoint]["deployments"]
                await source.validate(loaded.kind, data)
                what = f"deployment {endpoint}/{loaded.name}"
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            self.post_message(Checked(path, [str(exc)]))
            return
        except ClientError as exc:
            self.post_message(Checked(path, [f"{self._shown(path)}: {exc}"]))
            return
        plan = f"{'update' if exists else 'create'} {what}"
        notes = [n for n in [loaded.cloud_only_note()] if n]
        self.post_message(
            Checked(path, [], plan + "".join(f"\nnote: {n}" for n in notes), loaded, exists)
        )

    def _shown(self, path: Path) -> Path:
        try:
            return path.resolve().relative_to(self.epdev.cwd.resolve())
        except ValueError:
            return path

    def _issue(self, issue: SpecIssue) -> str:
        """The issue with its file relative to the picker's folder (shorter, and stable)."""
        if issue.file is not None:
            issue = dataclasses.replace(issue, file=self._shown(Path(issue.file)))
        return str(issue)

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
        self.apply(checked.loaded, checked.exists)

    @work(exclusive=True, exit_on_error=False, group="apply")
    async def apply(self, loaded: LoadedSpec, exists: bool) -> None:
        source = self.epdev.source
        data = _payload(loaded)
        origin = str(loaded.path) if loaded.path else None
        try:
            if loaded.kind == "online-endpoint":
                split = {k: data.pop(k) for k in ("traffic", "mirror_traffic") if k in data}
                if exists:
                    await source.update_endpoint(loaded.name, spec=data, source=origin, **split)
                else:
                    await source.create_endpoint(data, origin)
                    if split:
                        await source.update_endpoint(loaded.name, **split)
                verb = "updated" if exists else "created"
                self.post_message(Landed(loaded.name, f"{verb} endpoint {loaded.name}", True))
                return
            endpoint = str(data["endpoint_name"])
            if exists:
                await source.update_deployment(
                    endpoint, loaded.name, spec=data, source=origin, only_if_changed=True
                )
            else:
                await source.create_deployment(endpoint, data, origin, all_traffic=False)
            self.post_message(
                Progress(f"{'updating' if exists else 'creating'} {endpoint}/{loaded.name}…")
            )
            await self._watch(endpoint, loaded.name)
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            self.post_message(Landed("", str(exc), False))
        except ClientError as exc:
            self.post_message(Landed("", str(exc), False))

    async def _watch(self, endpoint: str, name: str) -> None:
        """Stream the deployment's logs (build lines included) until it settles."""
        source = self.epdev.source

        async def stream() -> None:
            partial = ""
            async for chunk in source.follow_logs(endpoint, name, 50):
                *lines, partial = (partial + chunk).split("\n")
                for line in lines:
                    self.post_message(Progress(line))

        logs = asyncio.create_task(stream())
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + READY_TIMEOUT
            while True:
                view: dict[str, Any] = await source.get_deployment(endpoint, name)
                state = view.get("provisioning_state")
                if state == "Succeeded":
                    self.post_message(Landed(endpoint, f"{endpoint}/{name} is ready", True, name))
                    return
                if state == "Failed":
                    self.post_message(
                        Landed("", f"{endpoint}/{name} failed: {view.get('error')}", False)
                    )
                    return
                if loop.time() > deadline:
                    self.post_message(Landed("", f"{endpoint}/{name} is still {state}", False))
                    return
                await asyncio.sleep(POLL_SECONDS)
        finally:
            logs.cancel()
            with contextlib.suppress(asyncio.CancelledError, ClientError):
                await logs

    def on_progress(self, message: Progress) -> None:
        self.query_one("#progress", Log).write_line(message.line)

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


def _payload(loaded: LoadedSpec) -> dict[str, Any]:
    """A spec as the REST API takes it: what the user set, with paths made absolute."""
    data: dict[str, Any] = loaded.spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return data
