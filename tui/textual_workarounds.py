"""Every place the dashboard reaches into Textual's or Rich's private shapes, and why.

Checked against the versions in `CHECKED_WITH`. Each fix first looks for the shape it relies
on and leaves itself out when that shape is gone, so an upgrade never breaks the dashboard;
tests/tui/test_textual_workarounds.py asserts that every shape is still there and that each bug
still shows in the library as shipped, so an upgrade that changes either fails there instead of
silently dropping a fix (or keeping one that is no longer needed). When it fails, look at the
upstream issue named here: delete what Textual or Rich now do themselves, adapt the rest, and
bump `CHECKED_WITH`.

What each works around, and the upstream issue (searched in Textualize/textual and
Textualize/rich; "none filed" where no issue describes it):

- `free_rendered_lines_promptly`, three fixes of rendered lines kept after use:
  `LRUCache.clear` leaves its ring of links to the cycle collector (none filed);
  a `Strip` caches itself as the answer of `adjust_cell_length`, `crop_extend` and `divide`
  (none filed); `StylesCache.get_inner_outer`'s `lru_cache` keeps the last 1,024 line caches
  of gone widgets (Textual #6665, open).
- `compact_style_meta`: Rich's and Textual's pickled style metadata left as tiny chunks in the
  C heap, which fragments it (none filed).
- `forget_closed_watchers`: a removed widget's `watch`/`data_bind` entries kept on the node it
  watched until the watched value changes (Textual #6666, open).
- `footer_bindings_ready`: the private flag of Textual's `Footer` that epdev's footer reads to
  rebuild its keys only when they change; Textual rebuilds them on every bindings refresh, even
  to show the same keys (none filed; see `epdev.tui.widgets.footer`).
- `drop_render_caches`: `DataTable`'s private `_clear_caches`, because its render caches are
  keyed by an update count and every cell change leaves all of them dead until LRU eviction
  (none filed; see `epdev.tui.widgets.live_table`).
"""

from __future__ import annotations

import functools
import pickle
from collections.abc import Callable
from types import ModuleType
from typing import Any

import rich.style
import textual.style
from textual._styles_cache import StylesCache
from textual.cache import LRUCache
from textual.color import Color
from textual.dom import DOMNode
from textual.strip import Strip
from textual.style import Style
from textual.widgets import DataTable, Footer

CHECKED_WITH = {"textual": "8.2.8", "rich": "15.0.0"}
"""The versions every workaround here was read against and measured with."""


# Rendered lines (Textual #6665 for the third; none filed for the first two).
#
# A dashboard redrawing live figures each second throws away many rendered lines (`Strip`s,
# with their segments and styles) each second, and three Textual shapes keep them longer:
#
# - `LRUCache` keeps its entries in a ring of `[prev, next, key, value]` lists, and `clear()`
#   only lets go of the ring's head. A `DataTable` clears six of them at each change of its data
#   (and `LiveTable` at each refresh that changes a figure).
# - A `Strip` caches what `adjust_cell_length`, `crop_extend` and `divide` return, and when
#   nothing needed changing that is the strip itself: most lines of a screen end up referring
#   to themselves.
# - `StylesCache.get_inner_outer` is an `lru_cache(1024)` on a method that is not a classmethod,
#   so it keys on the widget's line cache itself and keeps the last 1,024 of them, with every
#   line they hold, after their widgets are gone. Each help screen (a full-terminal screen and
#   four widgets) stayed in it until 1,024 newer entries pushed it out: with help opened every
#   0.3-4 s over the live graphs the dashboard grew by 97 MiB in ten minutes, 7 MiB with this
#   fixed (bench/dashboard_idle.py).
#
# The first two make cyclic garbage, which only a collection frees, and it is what fills the old
# generation and calls for Python's full collections, each 130-300 ms with the dashboard's heap,
# in which no key is answered. Counted inside the real dashboard (`gc.DEBUG_SAVEALL`,
# bench/dashboard_idle.py's 50 endpoints), the cyclic garbage of ten seconds fell from 27,600
# objects to 700 on the endpoints view, and from 20,500-26,600 to 3,400 on an endpoint's live
# graphs. None of the fixes changes a result: a cleared cache is as empty, a strip that needs no
# change is returned as before, only not remembered (finding that out again is one comparison),
# and the two background styles are still cached, by colour alone.

_textual_clear = LRUCache.clear
_textual_inner_outer: Any = StylesCache.get_inner_outer

# The Strip methods that may cache their own strip, and the cache each one keeps.
SELF_CACHING = {
    "adjust_cell_length": "_line_length_cache",
    "crop_extend": "_crop_extend_cache",
    "divide": "_divide_cache",
}


def _clear_ring(cache: LRUCache[Any, Any]) -> None:
    for link in cache._cache.values():
        link.clear()
    _textual_clear(cache)


def _not_remembering_itself(method: Callable[..., Any], cache_name: str) -> Callable[..., Any]:
    @functools.wraps(method)
    def call(strip: Strip, *args: Any, **kwargs: Any) -> Any:
        result = method(strip, *args, **kwargs)
        if result is strip or (
            isinstance(result, list) and len(result) == 1 and result[0] is strip
        ):
            entries: dict[object, object] = getattr(strip, cache_name)._cache
            for key in [key for key, value in entries.items() if value is result]:
                del entries[key]
        return result

    call.__epdev_fixed__ = True  # type: ignore[attr-defined]
    return call


@functools.lru_cache(1024)
def _inner_outer(base_background: Color, background: Color) -> tuple[Style, Style]:
    result: tuple[Style, Style] = _textual_inner_outer.__wrapped__(
        None, base_background, background
    )
    return result


def _get_inner_outer(
    styles_cache: StylesCache, base_background: Color, background: Color
) -> tuple[Style, Style]:
    return _inner_outer(base_background, background)


def rings_fixable() -> bool:
    """Whether `LRUCache` still keeps its entries as links of a ring (lists) in `_cache`."""
    probe: LRUCache[int, int] = LRUCache(2)
    probe[0] = 0
    return isinstance(getattr(probe, "_cache", {}).get(0), list)


def strips_fixable() -> bool:
    """Whether each of `SELF_CACHING`'s caches is still on a `Strip`, as a dict in `_cache`."""
    probe = Strip([])
    return all(
        isinstance(getattr(getattr(probe, cache, None), "_cache", None), dict)
        for cache in SELF_CACHING.values()
    )


def inner_outer_fixable() -> bool:
    """Whether `StylesCache.get_inner_outer` is still an `lru_cache` on the instance method."""
    # Textual's own: an lru_cache whose function takes the instance (named `cls`) first.
    return hasattr(_textual_inner_outer, "__wrapped__") and hasattr(
        _textual_inner_outer, "cache_clear"
    )


def free_rendered_lines_promptly() -> list[str]:
    """Apply the fixes that this Textual's shapes allow; returns the names of those in place.

    A fix whose shape is gone from Textual (a later version) is left out rather than guessed.
    """
    fixed = []
    if LRUCache.clear is _clear_ring or rings_fixable():
        LRUCache.clear = _clear_ring  # type: ignore[method-assign,assignment]
        fixed.append("LRUCache.clear")
    if strips_fixable():
        for name, cache in SELF_CACHING.items():
            method = getattr(Strip, name)
            if not getattr(method, "__epdev_fixed__", False):
                setattr(Strip, name, _not_remembering_itself(method, cache))
            fixed.append(f"Strip.{name}")
    if StylesCache.get_inner_outer is _get_inner_outer or inner_outer_fixable():
        StylesCache.get_inner_outer = _get_inner_outer  # type: ignore[method-assign,assignment]
        _textual_inner_outer.cache_clear()
        fixed.append("StylesCache.get_inner_outer")
    return fixed


# Style metadata (none filed).
#
# Rich and Textual keep a style's metadata (Textual's mouse offsets, a table cell's row and
# column) as `pickle.dumps(meta)`: a few dozen bytes, made for nearly every segment drawn.
# CPython's pickler writes into a 4 KiB buffer from the C heap and shrinks it in place when done,
# so each of those blobs stays a tiny live chunk in the C heap with a hole beside it that the
# next 4 KiB buffer cannot use. The styles live as long as the strips that hold them, scattered
# across the heap, and a dashboard redrawing live figures grew its heap by about 0.3 MiB a minute
# of free but unreturnable holes while the memory actually in use stayed flat.
#
# Copying each blob into a bytes object of its own size lets the small-object allocator take it
# and frees the 4 KiB buffer whole, at once. The blobs are the same bytes, so `Style.meta` and
# style equality are unchanged.

PICKLING_MODULES: tuple[ModuleType, ...] = (rich.style, textual.style)
"""The modules that pickle style metadata through a module-level `dumps`."""


def _exact_dumps(meta: object) -> bytes:
    return bytes(memoryview(pickle.dumps(meta)))


def compact_style_meta() -> list[str]:
    """Make Rich and Textual store style metadata compactly; returns the modules that do.

    A module that no longer pickles through a module-level `pickle.dumps` is left as it is.
    """
    compact = []
    for module in PICKLING_MODULES:
        current = getattr(module, "dumps", None)
        if current is pickle.dumps:
            module.dumps = _exact_dumps  # type: ignore[attr-defined]
            compact.append(module.__name__)
        elif current is _exact_dumps:
            compact.append(module.__name__)
    return compact


# Watchers of removed widgets (Textual #6666).
#
# `watch(other, "name", ...)` and `data_bind` store `(watcher, callback)` on the *watched* node,
# and Textual drops the entry of a removed watcher only when the watched value next changes. A
# value that never changes keeps every removed watcher alive, with its styles, caches and
# rendered lines. Footer keys bound to the footer's `compact`, and a banner per screen watching
# the app's `problem`, are such watchers.

WATCHERS = "__watchers"
"""Where Textual keeps the watchers of a node (set with `setattr`, so not name-mangled)."""


def forget_closed_watchers(watched: DOMNode) -> None:
    """Drop from `watched` the entries of watchers that are being removed or are gone.

    "Closing" is the test Textual itself applies when the watched value changes.
    """
    lists: dict[str, list[tuple[DOMNode, object]]] = getattr(watched, WATCHERS, None) or {}
    for entries in lists.values():
        entries[:] = [(node, callback) for node, callback in entries if not node._closing]


# Textual's footer (none filed).


def footer_bindings_ready(footer: Footer) -> bool:
    """Whether Textual's footer has been told of its screen's bindings yet.

    Until then its `compose` yields no keys, so there is nothing to compare a rebuild with.
    """
    return bool(footer._bindings_ready)


# DataTable's render caches (none filed).


def drop_render_caches(table: DataTable[Any]) -> None:
    """Empty every rendering `table` keeps (rows, cells, lines), as Textual does on `clear`.

    DataTable keys each cached rendering by its update count, so a single cell change leaves all
    of them dead until their LRUs (10,000 cells, 1,000 rows and lines) evict them.
    """
    table._clear_caches()
