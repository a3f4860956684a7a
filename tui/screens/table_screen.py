"""A status line over a live table that reloads about once a second in a worker; `/` filters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, ClassVar, Generic, TypeVar

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker

from epdev.tui.messages import Done
from epdev.tui.screens.typed_filter import TypedFilter
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.footer import Footer
from epdev.tui.widgets.live_table import Cell, LiveTable

if TYPE_CHECKING:
    from epdev.tui.app import EpdevApp


V = TypeVar("V")
"""The view a row shows."""


class TableScreen(TypedFilter, Screen[None], Generic[V]):
    """Subclasses name their table and columns, start a load, and draw rows and status."""

    TABLE_ID: ClassVar[str] = "table"
    COLUMNS: ClassVar[tuple[tuple[str, str], ...]] = ()
    DROP_ORDER: ClassVar[tuple[str, ...]] = ()
    """Column keys, least needed first: narrow terminals leave them out in this order."""
    NARROW: ClassVar[dict[int, int]] = {120: 2, 100: 4}
    """Below each width, how many of DROP_ORDER's columns are left out."""

    def __init__(self) -> None:
        super().__init__()
        self.filter = ""
        self.filtering = False
        self._worker: Worker[None] | None = None
        self._loaded = False
        self._dropped = 0

    @property
    def epdev(self) -> EpdevApp:
        return self.app  # type: ignore[return-value]

    @property
    def table(self) -> LiveTable:
        return self.query_one(f"#{self.TABLE_ID}", LiveTable)

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield Static(id="status", classes="status")
        table = LiveTable(id=self.TABLE_ID, cursor_type="row", zebra_stripes=True)
        for label, key in self.COLUMNS:
            table.add_column(label, key=key)
        yield table
        yield Footer()

    def on_resize(self) -> None:
        dropped = next(
            (n for limit, n in sorted(self.NARROW.items()) if self.size.width < limit), 0
        )
        dropped = min(dropped, len(self.DROP_ORDER))
        if dropped == self._dropped:
            return
        self._dropped = dropped
        gone = set(self.DROP_ORDER[:dropped])
        self.table.set_columns([(label, key) for label, key in self.COLUMNS if key not in gone])
        if self._loaded:
            self._show_rows()

    def fit(self, cells: tuple[Cell, ...]) -> tuple[Cell, ...]:
        """A row's cells for the columns shown (narrow terminals leave some out)."""
        if not self._dropped:
            return cells
        gone = set(self.DROP_ORDER[: self._dropped])
        return tuple(c for c, (_, key) in zip(cells, self.COLUMNS, strict=False) if key not in gone)

    def _show_rows(self) -> None:
        """Draw the rows from the views (subclasses)."""

    def on_mount(self) -> None:
        self._show_status()
        self.set_interval(self.epdev.refresh_seconds, self._tick)
        self.refresh_now()

    def on_screen_resume(self) -> None:
        self.refresh_now()

    def _tick(self) -> None:
        self.refresh_now()

    def refresh_now(self) -> None:
        """Start a refresh unless one is under way (a slow devserver must not pile them up)."""
        if not self.is_current or (self._worker is not None and self._worker.is_running):
            return
        self._worker = self.start_load()

    def start_load(self) -> Worker[None]:
        raise NotImplementedError

    def views(self) -> Mapping[str, V]:
        """What the rows show, by row key."""
        raise NotImplementedError

    def selected(self) -> V | None:
        name = self.table.selected_key()
        return None if name is None else self.views().get(name)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open()

    def action_open(self) -> None:
        raise NotImplementedError

    def on_done(self, message: Done) -> None:
        self.notify(message.text)
        self.refresh_now()
