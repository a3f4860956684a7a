"""A DataTable kept in step with live data without rebuilding it (the cursor stays put).

Columns get explicit widths, computed here from the data, and only ever grow: figures that
change every second do not make the columns jump, and no cell is drawn at a stale width.
(Textual's auto width caches a cell's rendering before it re-measures the column, so a row
added between two idles could show truncated until its next change.)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from rich.cells import cell_len
from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from epdev.tui.textual_workarounds import drop_render_caches

Cell = str | Text


def _width(cell: Cell) -> int:
    return cell.cell_len if isinstance(cell, Text) else cell_len(cell)


class LiveTable(DataTable[Cell]):
    """Rows keyed by name; `enter` opens the selected one (and says so in the footer)."""

    BINDINGS = [
        Binding("enter", "select_cursor", "Open"),
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
    ]

    def set_columns(self, columns: Sequence[tuple[str, str]]) -> None:
        """Show these columns (label, key), emptied: the next `sync` fills them."""
        if [(str(c.label), c.key.value) for c in self.ordered_columns] == list(columns):
            return
        selected = self.selected_key()
        self.clear(columns=True)
        for label, key in columns:
            self.add_column(label, key=key)
        self._reselect = selected

    _reselect: str | None = None

    def sync(self, rows: Mapping[str, Sequence[Cell]]) -> None:
        """Show exactly `rows` (keyed, in order), touching only the cells that changed."""
        columns = list(self.ordered_columns)
        widths = [max(c.width, _width(c.label)) for c in columns]
        wanted = list(widths)
        for cells in rows.values():
            for index, cell in enumerate(cells[: len(wanted)]):
                wanted[index] = max(wanted[index], _width(cell))
        keys = list(rows)
        if [row.key.value for row in self.ordered_rows] != keys or wanted != widths:
            selected = self.selected_key() or self._reselect
            self._reselect = None
            self.clear(columns=True)
            for column, width in zip(columns, wanted, strict=True):
                self.add_column(column.label, key=column.key.value, width=width)
            for key, cells in rows.items():
                self.add_row(*cells, key=key)
            if selected is not None and selected in rows:
                self.move_cursor(row=keys.index(selected), animate=False)
            return
        changed = False
        for key, cells in rows.items():
            old = self.get_row(key)
            for column, before, after in zip(columns, old, cells, strict=False):
                if before != after:
                    self.update_cell(key, column.key, after)
                    changed = True
        if changed:
            # DataTable keys every cached rendering by its update count, so each change leaves
            # all of them dead until the LRUs (10,000 cells, 1,000 rows and lines) evict them:
            # some 13 MiB per live table over its first ten minutes (a figure changes every
            # second), then flat. Dropping them now keeps the dashboard's memory flat.
            drop_render_caches(self)

    def selected_key(self) -> str | None:
        if self.row_count == 0:
            return None
        try:
            row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        return row_key.value
