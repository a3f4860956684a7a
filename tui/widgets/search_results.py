"""The matches of a search over a whole log, the term highlighted; `n`/`N` bring one to the top.

The devserver does the searching and answers a page at a time, so only the matches asked for
are ever held here (at most MAX_MATCHES), never the log itself.
"""

from __future__ import annotations

import re

from rich.text import Text
from textual.widgets import RichLog

from epdev.devserver import views

MAX_MATCHES = 2000
"""Matches kept; past them the status asks for a narrower search."""

HIGHLIGHT = "bold black on yellow"


class SearchResults(RichLog):
    """Match lines (and the lines after them, dim) with where each one starts."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, wrap=False, highlight=False, markup=False, max_lines=None)
        self.term = ""
        self.matches: list[views.LogMatch] = []
        self.current = -1
        self.next_offset: int | None = None
        self.total_bytes = 0
        self._starts: list[int] = []

    @property
    def full(self) -> bool:
        return len(self.matches) >= MAX_MATCHES

    def start(self, term: str) -> None:
        self.term = term
        self.matches = []
        self.current = -1
        self.next_offset = None
        self.total_bytes = 0
        self._starts = []
        self.clear()

    def add(self, page: views.LogSearchPage) -> None:
        """Append a page of the devserver's answer."""
        room = MAX_MATCHES - len(self.matches)
        new = page.matches[:room]
        self.next_offset = page.next_offset
        self.total_bytes = page.total_bytes
        self.matches += new
        for match in new:
            self._write(match)
        if self.current < 0 and self.matches:
            self.go(0)

    def _write(self, match: views.LogMatch) -> None:
        self._starts.append(len(self.lines))
        self.write(self._line(match.text), scroll_end=False)
        for line in match.context:
            self.write(Text(line, style="dim"), scroll_end=False)

    def _line(self, text: str) -> Text:
        line = Text(text)
        if self.term:
            line.highlight_regex(re.compile(re.escape(self.term), re.IGNORECASE), HIGHLIGHT)
        return line

    def go(self, index: int) -> None:
        """Bring match `index` to the top."""
        if not self.matches:
            return
        self.current = max(0, min(index, len(self.matches) - 1))
        self.scroll_to(y=self._starts[self.current], animate=False, immediate=True)

    def set_wrap(self, wrap: bool) -> None:
        """Wrap long lines, or keep them whole to scroll sideways; the matches are written again."""
        self.wrap = wrap
        current = self.current
        self._starts = []
        self.clear()
        for match in self.matches:
            self._write(match)
        if current >= 0:
            self.go(current)
