"""Deploy from a spec: pick a YAML file (or a folder of them, as `epdev apply -f DIR`), see its
errors with line numbers, edit it in $EDITOR, choose the runtime and traffic, then apply it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import shlex
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.markup import escape
from textual import events, work
from textual.app import ComposeResult, SuspendNotSupported
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Checkbox, DirectoryTree, Input, Log, Select, Static

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


RUNTIMES = ("process", "venv", "docker")

_STEP = re.compile(r"\bstep (\d+)/(\d+)", re.IGNORECASE)


def phase_of(line: str, downloads: int) -> str | None:
    """The phase of a deployment a log line shows (uv's and Docker's build output, epdev's
    notes), or None when it shows none: what the user waits for during a long build."""
    text = line.split(" | ", 1)[-1].lower()
    step = _STEP.search(text)
    if step:
        return f"building the image: step {step.group(1)}/{step.group(2)}"
    if "resolv" in text:
        return "resolving dependencies"
    if "download" in text:
        return f"downloading packages ({downloads + 1} so far)"
    if "install" in text or "prepared" in text:
        return "installing packages"
    if "starting" in text and "instance" in text:
        return "starting instances"
    if "instance(s) ready" in text:
        return "ready"
    return None


DEFAULT_RUNTIME = "(the devserver's default)"


@dataclass
class Checked(Message):
    """The outcome of checking a file or folder: `problems` empty means it can be applied.
    `specs` holds each spec to apply, in order (endpoints first), and whether it exists."""

    path: Path
    problems: list[str]
    plan: str | None = None
    specs: list[tuple[LoadedSpec, bool]] = dataclasses.field(default_factory=list)

    @property
    def loaded(self) -> LoadedSpec | None:
        return self.specs[0][0] if self.specs else None


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

    @work(exclusive=True, exit_on_error=False, group="check")
    async def check(self, path: Path) -> None:
        self.epdev.last_deploy_folder = path if path.is_dir() else path.parent
        if path.is_dir():
            await self._check_folder(path)
            return
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
            endpoints = {e.name: e for e in await source.list_endpoints()}
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
                exists = loaded.name in endpoints[endpoint].deployments
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
            Checked(path, [], plan + "".join(f"\nnote: {n}" for n in notes), [(loaded, exists)])
        )

    async def _check_folder(self, folder: Path) -> None:
        """Every spec in the folder, as `epdev apply -f DIR` takes them: endpoints first."""
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SPEC_SUFFIXES)
        problems: list[str] = []
        loaded_specs: list[LoadedSpec] = []
        for file in files:
            try:
                loaded_specs.append(load_spec(file))
            except SpecError as exc:
                problems += [self._issue(issue) for issue in exc.issues]
            except OSError as exc:
                problems.append(f"{self._shown(file)}: {exc.strerror}")
        loaded_specs = [
            s for s in loaded_specs if s.kind in ("online-endpoint", "online-deployment")
        ]
        loaded_specs.sort(key=lambda s: s.kind != "online-endpoint")
        if not loaded_specs and not problems:
            problems.append(f"{self._shown(folder)}: no endpoint or deployment spec in it")
        source = self.epdev.source
        try:
            endpoints = {e.name: e for e in await source.list_endpoints()}
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            self.post_message(Checked(folder, [str(exc)]))
            return
        except ClientError as exc:
            self.post_message(Checked(folder, [str(exc)]))
            return
        new_endpoints = {s.name for s in loaded_specs if s.kind == "online-endpoint"}
        specs: list[tuple[LoadedSpec, bool]] = []
        plan: list[str] = []
        for loaded in loaded_specs:
            data = _payload(loaded)
            if loaded.kind == "online-endpoint":
                exists = loaded.name in endpoints
                what = f"endpoint {loaded.name}"
            else:
                endpoint = str(data.get("endpoint_name") or "")
                if endpoint not in endpoints and endpoint not in new_endpoints:
                    problems.append(
                        f"{self._shown(Path(str(loaded.path)))}: endpoint {endpoint!r} "
                        "does not exist and no spec here creates it"
                    )
                    continue
                exists = endpoint in endpoints and loaded.name in endpoints[endpoint].deployments
                what = f"deployment {endpoint}/{loaded.name}"
                if endpoint in endpoints:  # a new endpoint's deployments are checked on apply
                    try:
                        await source.validate(loaded.kind, data)
                    except ClientError as exc:
                        problems.append(f"{self._shown(Path(str(loaded.path)))}: {exc}")
                        continue
            specs.append((loaded, exists))
            plan.append(f"{'update' if exists else 'create'} {what}")
        self.post_message(Checked(folder, problems, "\n".join(plan), specs))

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
        """Each spec in turn; a deployment is waited for before the next one starts."""
        for index, (loaded, exists) in enumerate(specs):
            last = index == len(specs) - 1
            if not await self.apply(loaded, exists, runtime, all_traffic, last):
                return

    async def apply(
        self,
        loaded: LoadedSpec,
        exists: bool,
        runtime: str | None = None,
        all_traffic: bool = False,
        last: bool = True,
    ) -> bool:
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
                text = f"{verb} endpoint {loaded.name}"
                self.post_message(Landed(loaded.name, text, True) if last else Progress(text))
                return True
            endpoint = str(data["endpoint_name"])
            if exists:
                await source.update_deployment(
                    endpoint,
                    loaded.name,
                    spec=data,
                    source=origin,
                    only_if_changed=True,
                    runtime=runtime,
                )
            else:
                await source.create_deployment(
                    endpoint, data, origin, all_traffic=all_traffic, runtime=runtime
                )
            self.post_message(
                Progress(f"{'updating' if exists else 'creating'} {endpoint}/{loaded.name}…")
            )
            ready = await self._watch(endpoint, loaded.name, last)
            if ready and exists and all_traffic:
                names = [d.name for d in await source.list_deployments(endpoint)]
                traffic = {n: 100 if n == loaded.name else 0 for n in names}
                await source.update_endpoint(endpoint, traffic=traffic)
            return ready
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            self.post_message(Landed("", str(exc), False))
        except ClientError as exc:
            self.post_message(Landed("", str(exc), False))
        return False

    async def _watch(self, endpoint: str, name: str, last: bool = True) -> bool:
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
                view = await source.get_deployment(endpoint, name)
                state = view.provisioning_state
                if state == "Succeeded":
                    text = f"{endpoint}/{name} is ready"
                    self.post_message(
                        Landed(endpoint, text, True, name) if last else Progress(text)
                    )
                    return True
                if state == "Failed":
                    self.post_message(Landed("", f"{endpoint}/{name} failed: {view.error}", False))
                    return False
                if loop.time() > deadline:
                    self.post_message(Landed("", f"{endpoint}/{name} is still {state}", False))
                    return False
                await asyncio.sleep(POLL_SECONDS)
        finally:
            logs.cancel()
            with contextlib.suppress(asyncio.CancelledError, ClientError):
                await logs

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


def _payload(loaded: LoadedSpec) -> dict[str, Any]:
    """A spec as the REST API takes it: what the user set, with paths made absolute."""
    data: dict[str, Any] = loaded.spec.model_dump(mode="json", by_alias=True, exclude_unset=True)
    return data
