"""Every screen's footer: Textual's, without the old keys it keeps alive."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer as TextualFooter

from epdev.tui.watchers import forget_closed_watchers


class Footer(TextualFooter):
    """Textual's footer rebuilds its keys each time the screen's bindings change: every time the
    screen comes back to the top (after help, a confirmation, a sub-view), and every
    `refresh_bindings`. Each key is data-bound to the footer's `compact`, which epdev never
    changes, so each removed key stayed referenced by the footer (see `epdev.tui.watchers`):
    about 0.6 MiB each time help was opened and closed over the endpoint view.
    """

    def compose(self) -> ComposeResult:
        # A rebuild removes the old keys (awaited) before it composes the new ones.
        forget_closed_watchers(self)
        yield from super().compose()
