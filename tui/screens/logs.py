"""A deployment's logs: follows new lines, pauses while scrolled up, filters, picks an instance,
and searches the whole log (rotated files too) on the devserver, a page at a time."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.markup import escape
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Input, Log, Static

from epdev.devserver import views
from epdev.tui.messages import Reachability
from epdev.tui.source import ClientError, NotRunning
from epdev.tui.widgets.banner import Banner
from epdev.tui.widgets.footer import Footer
from epdev.tui.widgets.search_results import SearchResults

if TYPE_CHECKING:
    from epdev.tui.app import EpdevApp

KEEP_LINES = 5000
"""Lines kept in memory and on screen: a chatty deployment must not grow the dashboard."""
BACKLOG = 200
"""Lines of history shown when the pane opens or switches instance."""
PAGE = 200
"""Matches asked for at a time; `n` past the last one asks for the next page."""


class _Pane(Log):
    """The log itself. `end` jumps to the last line at once: an animated scroll aims at the
    last line as it was when it started, so a line written meanwhile left the pane paused one
    line short of the end, with nothing left to resume it."""

    def action_scroll_end(self) -> None:
        self.scroll_end(animate=False, immediate=True, x_axis=False)


@dataclass
class LogLines(Message):
    lines: list[str]
    generation: int


@dataclass
class LogEnded(Message):
    text: str
    generation: int


@dataclass
class SearchAnswered(Message):
    """A page of matches (`page` as the devserver answers), or why there is none (`problem`)."""

    term: str
    page: views.LogSearchPage | None
    problem: str | None = None
    then_next: bool = False
    """Asked for by `n` past the last match: go on to the first new one."""


class LogsScreen(Screen[None]):
    AUTO_FOCUS = "#log"
    BINDINGS = [
        Binding("question_mark", "app.help", "Help", key_display="?"),
        Binding("escape", "back", "Back"),
        Binding("slash", "search", "Search"),
        Binding("n", "next_match", "Next"),
        Binding("N", "previous_match", "Prev", key_display="N"),
        Binding("f", "filter", "Filter"),
        Binding("w", "wrap", "Wrap"),
        Binding("i", "instance", "Instance"),
        Binding("end,G", "follow", "Follow"),
        Binding("home,g", "top", "Top", show=False),
    ]

    def __init__(
        self,
        endpoint: str,
        deployment: str,
        instances: list[str],
        *,
        request_id: str | None = None,
    ) -> None:
        super().__init__()
        self.request_id = request_id
        """Opened from a failed call: show the lines written while it ran."""
        self.searching = False
        self.wrap = False
        self._box = "filter"
        self.endpoint = endpoint
        self.deployment = deployment
        self.instances: list[str | None] = [None, *instances]
        self.instance: str | None = None
        self.filter = ""
        self.lines: deque[str] = deque(maxlen=KEEP_LINES)
        self.unseen = 0
        self.ended: str | None = None
        self._generation = 0

    @property
    def epdev(self) -> EpdevApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        yield Banner(id="banner")
        yield Static(id="status", classes="status")
        yield Input(id="filter")
        yield _Pane(id="log", max_lines=KEEP_LINES, auto_scroll=True)
        results = SearchResults(id="results")
        results.display = False
        yield results
        yield Footer()

    def on_mount(self) -> None:
        log = self.query_one("#log", Log)
        self.watch(log, "scroll_y", lambda _: self._show_status(), init=False)
        self._start()
        if self.request_id is not None:
            self._open_results(f"x-request-id {self.request_id}", term="")
            self.find(self.request_id, 0, by_request=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("next_match", "previous_match"):
            return self.searching
        return True

    def _start(self) -> None:
        self._generation += 1
        self.lines.clear()
        self.unseen = 0
        self.ended = None
        self.query_one("#log", Log).clear()
        self._show_status()
        self.follow(self.instance, self._generation)

    @work(exclusive=True, exit_on_error=False, group="follow")
    async def follow(self, instance: str | None, generation: int) -> None:
        partial = ""
        try:
            async for chunk in self.epdev.source.follow_logs(
                self.endpoint, self.deployment, BACKLOG, instance
            ):
                text = partial + chunk
                *complete, partial = text.split("\n")
                if complete:
                    self.post_message(LogLines(complete, generation))
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            self.post_message(LogEnded("the devserver went away", generation))
            return
        except ClientError as exc:
            self.post_message(LogEnded(str(exc), generation))
            return
        if partial:
            self.post_message(LogLines([partial], generation))
        self.post_message(LogEnded("the deployment is gone", generation))

    def on_log_lines(self, message: LogLines) -> None:
        if message.generation != self._generation:
            return
        self.lines.extend(message.lines)
        shown = [line for line in message.lines if self._matches(line)]
        if not shown:
            return
        log = self.query_one("#log", Log)
        if not log.is_vertical_scroll_end:
            self.unseen += len(shown)
        log.write_lines(self._shown(shown))
        self._show_status()

    def on_log_ended(self, message: LogEnded) -> None:
        if message.generation == self._generation:
            self.ended = message.text
            self._show_status()

    def _matches(self, line: str) -> bool:
        return not self.filter or self.filter.lower() in line.lower()

    def _shown(self, lines: list[str]) -> list[str]:
        """Lines as the pane shows them: cut to its width when wrapping, whole otherwise (it
        scrolls sideways)."""
        if not self.wrap:
            return lines
        width = max(self.query_one("#log", Log).scrollable_content_region.width, 20)
        return [
            line[start : start + width]
            for line in lines
            for start in range(0, max(len(line), 1), width)
        ]

    @property
    def following(self) -> bool:
        return self.query_one("#log", Log).is_vertical_scroll_end

    def _show_status(self) -> None:
        log = self.query_one("#log", Log)
        if log.is_vertical_scroll_end:
            self.unseen = 0
        parts = [self.heading()]
        if self.ended:
            parts.append(f"[yellow]stopped: {escape(self.ended)}[/yellow]")
        elif log.is_vertical_scroll_end:
            parts.append("[green]following[/green]")
        else:
            more = f", {self.unseen} new lines below" if self.unseen else ""
            parts.append(f"[yellow]paused{more}[/yellow] (end resumes)")
        if self.filter:
            parts.append(f"filter: {escape(self.filter)}")
        if self.searching:
            parts = [self.heading(), self._search_status()]
        self.query_one("#status", Static).update(" · ".join(parts))

    def _search_status(self) -> str:
        results = self.query_one("#results", SearchResults)
        what = f"'{escape(results.term)}'" if results.term else escape(self._searched)
        count = len(results.matches)
        if self._search_problem:
            return f"search {what}: [red]{escape(self._search_problem)}[/red] · esc back to the log"
        if self._search_pending and not count:
            return f"searching the whole log for {what}…"
        more = ""
        if results.full:
            more = " (the first ones: search for something narrower)"
        elif results.next_offset is not None:
            more = "+ (n past the last asks for more)"
        where = f"match {results.current + 1}/{count}{more}" if count else "no matches"
        size = results.total_bytes / (1024 * 1024)
        return (
            f"search {what} in the whole log ({size:.1f} MiB): {where} · n/N next/previous · "
            "esc back to the log"
        )

    def heading(self) -> str:
        where = self.instance or "all instances"
        return f"[b]logs[/b] {escape(self.endpoint)}/{escape(self.deployment)} · {where}"

    # Actions

    def action_back(self) -> None:
        box = self.query_one("#filter", Input)
        if box.display and self._box == "search":
            box.value = ""
            box.display = False
            self._focus_pane()
            return
        if box.display:
            self._set_filter("")
            return
        if self.searching:
            self._close_results()
            return
        self.dismiss(None)

    def action_filter(self) -> None:
        self._open_box("filter", "show only lines containing… (esc clears)", self.filter)

    def action_search(self) -> None:
        self._open_box("search", "search the whole log, rotated files too (enter searches)", "")

    def _open_box(self, kind: str, placeholder: str, value: str) -> None:
        self._box = kind
        box = self.query_one("#filter", Input)
        box.placeholder = placeholder
        box.value = value
        box.display = True
        box.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        if self._box == "filter":
            self._set_filter(event.value.strip(), hide=False)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if self._box == "search":
            term = event.value.strip()
            event.input.value = ""
            event.input.display = False
            if term:
                self._open_results(term, term=term)
                self.find(term, 0)
            self._focus_pane()
            return
        self.query_one("#log").focus()
        if not event.value:
            event.input.display = False

    def _focus_pane(self) -> None:
        self.query_one("#results" if self.searching else "#log").focus()

    # Searching the whole log

    _searched = ""
    _search_pending = False
    _search_problem: str | None = None

    def _open_results(self, label: str, *, term: str) -> None:
        self.searching = True
        self._searched = label
        self._search_problem = None
        self._search_pending = True
        results = self.query_one("#results", SearchResults)
        results.start(term)
        results.display = True
        self.query_one("#log").display = False
        results.focus()
        self.refresh_bindings()
        self._show_status()

    def _close_results(self) -> None:
        self.searching = False
        self.workers.cancel_group(self, "search")
        self.query_one("#results").display = False
        log = self.query_one("#log")
        log.display = True
        log.focus()
        self.refresh_bindings()
        self._show_status()

    @work(exclusive=True, exit_on_error=False, group="search")
    async def find(
        self, term: str, offset: int, by_request: bool = False, then_next: bool = False
    ) -> None:
        try:
            page = await self.search_page(term, offset, by_request)
        except NotRunning as exc:
            self.post_message(Reachability(str(exc)))
            self.post_message(SearchAnswered(term, None, "the devserver went away"))
            return
        except ClientError as exc:
            self.post_message(SearchAnswered(term, None, str(exc)))
            return
        self.post_message(SearchAnswered(term, page, then_next=then_next))

    async def search_page(self, term: str, offset: int, by_request: bool) -> views.LogSearchPage:
        """One page of matches from the devserver (the job logs' screen asks for its own)."""
        source = self.epdev.source
        if by_request:
            return await source.search_logs(self.endpoint, self.deployment, request_id=term)
        return await source.search_logs(
            self.endpoint, self.deployment, term, offset=offset, limit=PAGE, instance=self.instance
        )

    def on_search_answered(self, message: SearchAnswered) -> None:
        if not self.searching:
            return
        self._search_pending = False
        results = self.query_one("#results", SearchResults)
        if message.page is None:
            self._search_problem = message.problem
        else:
            before = len(results.matches)
            results.add(message.page)
            if message.then_next and len(results.matches) > before:
                results.go(before)
        self._show_status()

    def action_next_match(self) -> None:
        results = self.query_one("#results", SearchResults)
        if results.current + 1 < len(results.matches):
            results.go(results.current + 1)
        elif results.next_offset is not None and not results.full and not self._search_pending:
            self._search_pending = True
            self.find(results.term, results.next_offset, then_next=True)
        else:
            self.notify("no more matches", timeout=2)
        self._show_status()

    def action_previous_match(self) -> None:
        results = self.query_one("#results", SearchResults)
        if results.current > 0:
            results.go(results.current - 1)
        self._show_status()

    def action_wrap(self) -> None:
        self.wrap = not self.wrap
        self.query_one("#results", SearchResults).set_wrap(self.wrap)
        log = self.query_one("#log", Log)
        log.clear()
        log.write_lines(self._shown([line for line in self.lines if self._matches(line)]))
        log.scroll_end(animate=False)
        self.notify(
            "long lines wrap" if self.wrap else "long lines scroll sideways (← →)", timeout=2
        )

    def _set_filter(self, text: str, hide: bool = True) -> None:
        self.filter = text
        box = self.query_one("#filter", Input)
        if hide and not text:
            box.value = ""
            box.display = False
            self.query_one("#log").focus()
        log = self.query_one("#log", Log)
        log.clear()
        log.write_lines(self._shown([line for line in self.lines if self._matches(line)]))
        log.scroll_end(animate=False)
        self._show_status()

    def action_instance(self) -> None:
        index = self.instances.index(self.instance)
        self.instance = self.instances[(index + 1) % len(self.instances)]
        self._start()

    def action_follow(self) -> None:
        if self.searching:
            self._close_results()
        self.query_one("#log", _Pane).action_scroll_end()
        self.unseen = 0
        self._show_status()

    def action_top(self) -> None:
        self.query_one("#log", Log).scroll_home(animate=False)
        self._show_status()
