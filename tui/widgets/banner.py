"""A red line across the top of a screen while the devserver cannot be reached."""

from __future__ import annotations

from textual.widgets import Static


class Banner(Static):
    """Shows the app's `problem`; hidden while there is none."""

    def on_mount(self) -> None:
        # Every screen has its own banner; all of them follow the one app-wide state.
        self.watch(self.app, "problem", self._show)

    def _show(self, problem: str | None) -> None:
        self.display = problem is not None
        if problem is not None:
            self.update(f"⚠ {problem} · retrying every second (r to retry now)")
