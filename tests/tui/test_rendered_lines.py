"""Textual's rendered lines, once let go, are freed at once: no cycle, no cache keeps them."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Callable, Iterator

import pytest
from rich.segment import Segment
from textual._styles_cache import StylesCache
from textual.cache import LRUCache
from textual.color import Color
from textual.strip import Strip
from textual.widgets import DataTable

from epdev.tui.textual_workarounds import free_rendered_lines_promptly

FIXES = [
    "LRUCache.clear",
    "Strip.adjust_cell_length",
    "Strip.crop_extend",
    "Strip.divide",
    "StylesCache.get_inner_outer",
]


class Value:
    """Something a cache holds that can be watched going."""


@pytest.fixture
def textuals_own(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Textual as shipped for the test, and back after it; no automatic collection meanwhile.

    With the collector off, whatever is still there after `del` is what only a collection
    would free.
    """
    monkeypatch.setattr(LRUCache, "clear", LRUCache.clear)
    for name in ("adjust_cell_length", "crop_extend", "divide"):
        monkeypatch.setattr(Strip, name, getattr(Strip, name))
    monkeypatch.setattr(StylesCache, "get_inner_outer", StylesCache.get_inner_outer)
    gc.collect()
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def held_then_cleared(cache: LRUCache[int, Value], count: int) -> list[weakref.ref[Value]]:
    values = [Value() for _ in range(count)]
    for key, value in enumerate(values):
        cache[key] = value
    cache.get(0)  # move a link around the ring, as use does
    gone = [weakref.ref(value) for value in values]
    del values, value
    cache.clear()
    return gone


def line_used_as_a_screen_does() -> None:
    strip = Strip([Segment("latency p99 "), Segment("41 ms")])
    width = strip.cell_length
    assert strip.adjust_cell_length(width) is strip  # nothing to change: the strip itself
    assert strip.crop_extend(0, width, None) is strip
    assert strip.divide([width]) == [strip]
    strip.adjust_cell_length(width + 4)  # these make new strips, cached as before
    strip.crop(2, 8)


def cyclic_garbage_of(action: Callable[[], object]) -> int:
    gc.collect()
    action()
    return gc.collect()


def line_cache_used_to_draw() -> weakref.ref[StylesCache]:
    """A widget's line cache that has looked up its background styles, then gone."""
    lines = StylesCache()
    inner, outer = lines.get_inner_outer(Color(10, 20, 30), Color(200, 0, 0, 0.25))
    assert inner != outer
    return weakref.ref(lines)


@pytest.mark.usefixtures("textuals_own")
def test_textual_as_shipped_keeps_all_three() -> None:
    # If this starts failing, Textual frees these itself: drop the fix it no longer needs.
    alive = [ref for ref in held_then_cleared(LRUCache(10), 5) if ref() is not None]
    assert len(alive) == 5
    assert cyclic_garbage_of(line_used_as_a_screen_does) > 0
    gc.enable()
    assert line_cache_used_to_draw()() is not None  # kept even by a full collection
    gc.collect()
    assert line_cache_used_to_draw()() is not None
    StylesCache.get_inner_outer.cache_clear()  # type: ignore[attr-defined]


@pytest.mark.usefixtures("textuals_own")
def test_a_line_cache_is_not_kept_by_its_background_styles() -> None:
    free_rendered_lines_promptly()
    assert line_cache_used_to_draw()() is None
    lines = StylesCache()
    first = lines.get_inner_outer(Color(10, 20, 30), Color(200, 0, 0, 0.25))
    assert lines.get_inner_outer(Color(10, 20, 30), Color(200, 0, 0, 0.25)) is first  # cached


@pytest.mark.usefixtures("textuals_own")
def test_every_fix_finds_its_shape_and_a_second_call_changes_nothing() -> None:
    assert free_rendered_lines_promptly() == FIXES
    wrapped = Strip.divide
    assert free_rendered_lines_promptly() == FIXES
    assert Strip.divide is wrapped


@pytest.mark.usefixtures("textuals_own")
def test_cleared_entries_are_freed_at_once() -> None:
    free_rendered_lines_promptly()
    for count in (1, 2, 5, 12):  # one link (its own ring), a few, and more than it keeps
        cache: LRUCache[int, Value] = LRUCache(10)
        assert all(ref() is None for ref in held_then_cleared(cache, count))
        assert len(cache) == 0
        cache[1] = Value()  # still a working cache after
        assert isinstance(cache.get(1), Value)


@pytest.mark.usefixtures("textuals_own")
def test_a_line_that_needed_no_change_is_freed_at_once() -> None:
    free_rendered_lines_promptly()
    assert cyclic_garbage_of(line_used_as_a_screen_does) == 0


@pytest.mark.usefixtures("textuals_own")
def test_strips_that_are_made_are_still_cached() -> None:
    free_rendered_lines_promptly()
    strip = Strip([Segment("latency p99 "), Segment("41 ms")])
    longer = strip.adjust_cell_length(strip.cell_length + 4)
    assert strip.adjust_cell_length(strip.cell_length + 4) is longer
    extended = strip.crop_extend(0, strip.cell_length + 2, None)
    assert strip.crop_extend(0, strip.cell_length + 2, None) is extended
    halves = strip.divide([6, strip.cell_length])
    assert strip.divide([6, strip.cell_length]) is halves


def test_a_tables_render_caches_are_such_caches() -> None:
    # A table clears these at each change of its data (Textual 8.2): the dashboard's tables,
    # refreshed each second, are why the ring fix matters. If they stop being LRU caches,
    # measure the garbage again (bench/dashboard_idle.py) before dropping the fix.
    table: DataTable[str] = DataTable()
    for name in ("_row_render_cache", "_cell_render_cache", "_line_cache"):
        assert isinstance(getattr(table, name), LRUCache), name
