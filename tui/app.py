"""The epdev dashboard: endpoints, deployments, traffic, logs and live graphs, one key away."""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import signal
from collections.abc import Callable
from pathlib import Path

from textual.app import App
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from epdev.tui.messages import Failed, Reachability
from epdev.tui.screens.endpoints import EndpointsScreen
from epdev.tui.screens.help import HelpScreen
from epdev.tui.source import Source

Clock = Callable[[], dt.datetime]


def _now() -> dt.datetime:
    return dt.datetime.now().astimezone()


def _own_actions(node: object) -> set[str]:
    """The actions a screen or the app binds in its own class (Textual's defaults left out)."""
    if not isinstance(node, (App, Screen)):
        return set()
    return {
        binding.action
        for cls in type(node).__mro__
        if cls.__module__.startswith("epdev.")
        for binding in cls.__dict__.get("BINDINGS", [])
        if isinstance(binding, Binding)
    }


class EpdevApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "epdev"
    BINDINGS = [
        Binding("q", "quit", "Quit"),
        Binding("question_mark", "help", "Help"),
        # `r` restarts a deployment in the endpoint view; ctrl+r refreshes on every screen.
        Binding("r,ctrl+r", "retry", "Refresh now", show=False),
    ]

    problem: reactive[str | None] = reactive(None)
    """Why the devserver cannot be reached right now, or None while it answers."""

    def __init__(
        self,
        source: Source,
        *,
        server_url: str,
        read_only: bool = False,
        embedded: bool = False,
        clock: Clock = _now,
        refresh_seconds: float = 1.0,
        cwd: Path | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.server_url = server_url
        self.read_only = read_only
        self.embedded = embedded
        self.clock = clock
        self.refresh_seconds = refresh_seconds
        self.cwd = cwd or Path.cwd()
        self.last_request_file: str | None = None
        self.last_deploy_folder: Path | None = None
        """Where the deploy picker opens next: the folder of the spec picked last."""
        self.help_screen = HelpScreen()

    def on_mount(self) -> None:
        # Installed, so closing help keeps the screen for the next `?` instead of removing it.
        self.install_screen(self.help_screen, "help")
        if self.embedded:
            # `kill` (and `epdev stop`, which signals the process that serves) quits normally,
            # restoring the terminal; the launcher then stops the devserver this process hosts.
            # (A closed terminal, SIGHUP, is the launcher's to handle: there is no terminal
            # left to restore.)
            with contextlib.suppress(NotImplementedError, RuntimeError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, self.exit)
        self.push_screen(EndpointsScreen())

    async def on_unmount(self) -> None:
        await self.source.aclose()

    def on_reachability(self, message: Reachability) -> None:
        self.problem = message.problem

    def on_failed(self, message: Failed) -> None:
        self.notify(message.text, severity="error", timeout=8)

    def action_help(self) -> None:
        if isinstance(self.screen, HelpScreen):
            return
        shown: dict[str, str] = {}
        for active in self.active_bindings.values():
            binding = active.binding
            # The footer's keys, and epdev's hidden ones (not Textual's own, nor widgets').
            listed = binding.show or binding.action in _own_actions(active.node)
            if active.enabled and binding.description and listed:
                key = binding.key_display or self.get_key_display(binding)
                shown.setdefault(key, binding.description)
        self.help_screen.show_keys(list(shown.items()))
        self.push_screen(self.help_screen)

    def action_retry(self) -> None:
        refresh = getattr(self.screen, "refresh_now", None)
        if refresh is not None:
            refresh()
