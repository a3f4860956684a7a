"""`/` filters a screen's table by typing into its status line, k9s style.

The table keeps the focus while the user types: moving the focus to an input box would make
the table draw every row again, the slowest thing a key can do on a long table.
"""

from __future__ import annotations

from rich.markup import escape
from textual import events


class TypedFilter:
    """Mixed into a screen that shows rows (`_show_rows`) and a status line (`_show_status`)."""

    filter: str = ""
    filtering: bool = False

    def _show_rows(self) -> None:
        raise NotImplementedError

    def _show_status(self) -> None:
        raise NotImplementedError

    def filter_status(self) -> str | None:
        """The status line's part about the filter, if any."""
        if self.filtering:
            return f"[reverse] /{escape(self.filter)}▏[/reverse] (enter keeps, esc clears)"
        if self.filter:
            return f"filter: {escape(self.filter)}"
        return None

    def action_filter(self) -> None:
        self.filtering = True
        self._show_status()

    def action_clear_filter(self) -> None:
        self.filtering = False
        self._set_filter("")

    def _set_filter(self, text: str) -> None:
        self.filter = text
        self._show_rows()
        self._show_status()

    def on_key(self, event: events.Key) -> None:
        if not self.filtering:
            return
        if event.key == "escape":
            self.action_clear_filter()
        elif event.key == "enter":
            self.filtering = False
            self._show_status()
        elif event.key == "backspace":
            self._set_filter(self.filter[:-1])
        elif event.is_printable and event.character:
            self._set_filter(self.filter + event.character)
        else:
            return
        event.stop()
        event.prevent_default()
