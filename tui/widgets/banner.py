"""A red line across the top of a screen while the devserver cannot be reached."""

from __future__ import annotations

from textual.widgets import Static

from epdev.tui.textual_workarounds import forget_closed_watchers


class Banner(Static):
    """Shows the app's `problem`; hidden while there is none."""

    def on_mount(self) -> None:
        # Every screen has its own banner; all of them follow the one app-wide state.
        self.watch(self.app, "problem", self._show)

    def on_unmount(self) -> None:
        # The app keeps its watchers; without this, each closed screen's banner stays with it.
        forget_closed_watchers(self.app)

    def _show(self, problem: str | None) -> None:
        self.display = problem is not None
        # The tables grey out: what they show is the last the devserver said, not live.
        self.app.set_class(problem is not None, "-unreachable")
        if problem is not None:
            self.update(
                f"⚠ {problem} · start one with `epdev serve --detach` (or quit and run `epdev` "
                "alone) · retrying every second (ctrl+r now)"
            )
