"""Every screen's footer: Textual's, rebuilt only when the keys it shows change."""

from __future__ import annotations

from collections.abc import Hashable

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer as TextualFooter

from epdev.tui.textual_workarounds import footer_bindings_ready, forget_closed_watchers


def _shown(screen: Screen[object]) -> tuple[Hashable, ...]:
    """What a footer shows of `screen`'s bindings: a rebuild with the same would change nothing."""
    return tuple(
        (binding.key, binding.action, binding.description, binding.key_display, enabled, tooltip)
        for _, binding, enabled, tooltip in screen.active_bindings.values()
        if binding.show
    )


class Footer(TextualFooter):
    """Textual's footer rebuilds its keys each time the screen's bindings are refreshed: every
    time the screen comes back to the top (after help, a confirmation, a sub-view), and every
    `refresh_bindings`, even when it would show the same keys. Each rebuild mounts a new widget
    per key, and styling a key makes throwaway style nodes (two per styling, for its component
    classes): opening and closing help over the endpoint view left 26 key widgets and some 150
    style nodes to the cycle collector (counted in a Pilot run), one of the two main sources of
    the cyclic garbage behind the full collections (130-300 ms, no key answered) that came
    every half minute with help opened every few seconds. So a rebuild happens here only when
    the keys shown differ (no upstream issue asks for this; the private flag it reads is in
    `epdev.tui.textual_workarounds`).

    Each key is data-bound to the footer's `compact`, which epdev never changes, so each
    removed key stayed referenced by the footer (Textual #6666, worked around in
    `epdev.tui.textual_workarounds`): about 0.6 MiB each time help was opened and closed over
    the endpoint view, before keys were forgotten here.
    """

    _composed_for: tuple[Hashable, ...] | None = None

    def compose(self) -> ComposeResult:
        # A rebuild removes the old keys (awaited) before it composes the new ones.
        forget_closed_watchers(self)
        if footer_bindings_ready(self):
            self._composed_for = _shown(self.screen)
        yield from super().compose()

    def bindings_changed(self, screen: Screen[object]) -> None:
        if (
            self._composed_for is not None
            and screen is self.screen
            and _shown(screen) == self._composed_for
        ):
            return
        super().bindings_changed(screen)
