"""Rendered lines that Textual keeps after they are needed, freed when they are done with.

A dashboard redrawing live figures each second throws away many rendered lines (Textual
`Strip`s, with their segments and styles) each second. Three Textual shapes (checked with
Textual 8.2) keep them longer:

- `LRUCache` keeps its entries in a ring of `[prev, next, key, value]` lists, and `clear()`
  only lets go of the ring's head. A `DataTable` clears six of them at each change of its data
  (and `LiveTable` at each refresh that changes a figure).
- A `Strip` caches what `adjust_cell_length`, `crop_extend` and `divide` return, and when
  nothing needed changing that is the strip itself: most lines of a screen end up referring
  to themselves.
- `StylesCache.get_inner_outer` is an `lru_cache(1024)` on a method that is not a classmethod,
  so it keys on the widget's line cache itself and keeps the last 1,024 of them, with every
  line they hold, after their widgets are gone. Each help screen (a full-terminal screen and
  four widgets) stayed in it until 1,024 newer entries pushed it out: with help opened every
  0.3-4 s over the live graphs the dashboard grew by 97 MiB in ten minutes, 7 MiB with this
  fixed (bench/dashboard_idle.py).

The first two make cyclic garbage, which only a collection frees, and it is what fills the old
generation and calls for Python's full collections, each 130-300 ms with the dashboard's heap,
in which no key is answered. Counted inside the real dashboard (`gc.DEBUG_SAVEALL`,
bench/dashboard_idle.py's 50 endpoints), the cyclic garbage of ten seconds fell from 27,600
objects to 700 on the endpoints view, and from 20,500-26,600 to 3,400 on an endpoint's live
graphs. None of the fixes changes a result: a cleared cache is as empty, a strip that needs no
change is returned as before, only not remembered (finding that out again is one comparison),
and the two background styles are still cached, by colour alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from textual._styles_cache import StylesCache
from textual.cache import LRUCache
from textual.color import Color
from textual.strip import Strip
from textual.style import Style

_textual_clear = LRUCache.clear
_textual_inner_outer: Any = StylesCache.get_inner_outer

# The Strip methods that may cache their own strip, and the cache each one keeps.
_SELF_CACHING = {
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


def _rings_fixable() -> bool:
    probe: LRUCache[int, int] = LRUCache(2)
    probe[0] = 0
    return isinstance(getattr(probe, "_cache", {}).get(0), list)


def _strips_fixable() -> bool:
    probe = Strip([])
    return all(
        isinstance(getattr(getattr(probe, cache, None), "_cache", None), dict)
        for cache in _SELF_CACHING.values()
    )


def _inner_outer_fixable() -> bool:
    # Textual's own: an lru_cache whose function takes the instance (named `cls`) first.
    return hasattr(_textual_inner_outer, "__wrapped__") and hasattr(
        _textual_inner_outer, "cache_clear"
    )


def free_rendered_lines_promptly() -> list[str]:
    """Apply the fixes that this Textual's shapes allow; returns the names of those in place.

    A fix whose shape is gone from Textual (a later version) is left out rather than guessed.
    """
    fixed = []
    if LRUCache.clear is _clear_ring or _rings_fixable():
        LRUCache.clear = _clear_ring  # type: ignore[method-assign,assignment]
        fixed.append("LRUCache.clear")
    if _strips_fixable():
        for name, cache in _SELF_CACHING.items():
            method = getattr(Strip, name)
            if not getattr(method, "__epdev_fixed__", False):
                setattr(Strip, name, _not_remembering_itself(method, cache))
            fixed.append(f"Strip.{name}")
    if StylesCache.get_inner_outer is _get_inner_outer or _inner_outer_fixable():
        StylesCache.get_inner_outer = _get_inner_outer  # type: ignore[method-assign,assignment]
        _textual_inner_outer.cache_clear()
        fixed.append("StylesCache.get_inner_outer")
    return fixed
