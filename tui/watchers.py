"""Watchers that removed widgets leave on the nodes they watched.

`watch(other, "name", ...)` and `data_bind` store `(watcher, callback)` on the *watched* node,
and Textual drops the entry of a removed watcher only when the watched value next changes
(Textual issue #6666, open as of Textual 8.2). A value that never changes keeps every removed
watcher alive, with its styles, caches and rendered lines. Footer keys bound to the footer's
`compact`, and a banner per screen watching the app's `problem`, are such watchers.
"""

from __future__ import annotations

from textual.dom import DOMNode

# Where Textual keeps the watchers of a node (set with `setattr`, so not name-mangled).
_WATCHERS = "__watchers"


def forget_closed_watchers(watched: DOMNode) -> None:
    """Drop from `watched` the entries of watchers that are being removed or are gone.

    "Closing" is the test Textual itself applies when the watched value changes.
    """
    lists: dict[str, list[tuple[DOMNode, object]]] = getattr(watched, _WATCHERS, None) or {}
    for entries in lists.values():
        entries[:] = [(node, callback) for node, callback in entries if not node._closing]
