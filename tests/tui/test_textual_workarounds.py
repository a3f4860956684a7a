"""The Textual and Rich shapes the workarounds rely on are still there, and so are the bugs.

Each workaround leaves itself out quietly when its shape is gone, so the dashboard keeps
working after an upgrade; these tests are what make the upgrade loud instead. A failure here
means: read the upstream issue named in `epdev.tui.textual_workarounds`, then drop the fix that
is no longer needed or adapt it, and bump `CHECKED_WITH`.
"""

from __future__ import annotations

import pickle
from importlib.metadata import version

import pytest
from packaging.version import Version
from textual.app import App, ComposeResult
from textual.reactive import reactive
from textual.widget import Widget
from textual.widgets import DataTable, Footer

from epdev.tui import textual_workarounds as workarounds


@pytest.mark.parametrize("package", sorted(workarounds.CHECKED_WITH))
def test_the_installed_version_is_no_newer_than_the_one_checked(package: str) -> None:
    # A patch release passes (the shape tests below still guard it); a minor or major one
    # is read again against every workaround before CHECKED_WITH moves to it.
    checked = Version(workarounds.CHECKED_WITH[package]).release[:2]
    installed = Version(version(package)).release[:2]
    assert installed <= checked, (
        f"{package} {version(package)} is newer than the {workarounds.CHECKED_WITH[package]} "
        "the workarounds were checked with: check each against it (see "
        "epdev.tui.textual_workarounds), then bump CHECKED_WITH"
    )


def test_each_rendered_lines_fix_still_finds_its_shape() -> None:
    assert workarounds.rings_fixable(), "LRUCache no longer keeps ring links in `_cache`"
    assert workarounds.strips_fixable(), "Strip's self-caching caches moved or changed"
    assert workarounds.inner_outer_fixable(), "StylesCache.get_inner_outer is no lru_cache"


def test_rich_and_textual_still_pickle_style_meta_through_a_module_dumps() -> None:
    for module in workarounds.PICKLING_MODULES:
        dumps = getattr(module, "dumps", None)
        assert dumps in (pickle.dumps, workarounds._exact_dumps), module.__name__


def test_the_footers_private_flag_is_still_there() -> None:
    flag = vars(Footer).get("_bindings_ready")
    assert isinstance(flag, reactive), "Footer._bindings_ready is gone"
    assert "bindings_changed" in vars(Footer), "Footer no longer rebuilds in bindings_changed"
    assert not workarounds.footer_bindings_ready(Footer())


def test_a_tables_render_caches_are_still_dropped_by_its_private_method() -> None:
    table: DataTable[str] = DataTable()
    table._cell_render_cache["stale"] = []  # type: ignore[index]
    table._line_cache["stale"] = None  # type: ignore[index]
    workarounds.drop_render_caches(table)
    assert len(table._cell_render_cache) == 0
    assert len(table._line_cache) == 0


class _Watched(App[None]):
    state: reactive[str] = reactive("steady")

    def compose(self) -> ComposeResult:
        yield _Watcher()


class _Watcher(Widget):
    def on_mount(self) -> None:
        self.watch(self.app, "state", self._seen)

    def _seen(self, value: str) -> None:
        pass


def _watchers_of(node: object) -> list[object]:
    lists = getattr(node, workarounds.WATCHERS)
    assert isinstance(lists, dict), f"Textual no longer keeps watchers in {workarounds.WATCHERS}"
    return [node for entries in lists.values() for node, _ in entries]


@pytest.mark.asyncio
async def test_textual_still_keeps_a_removed_watcher_until_it_is_forgotten() -> None:
    app = _Watched()
    async with app.run_test() as pilot:
        watcher = app.query_one(_Watcher)
        assert watcher in _watchers_of(app)
        await watcher.remove()
        await pilot.pause()
        # If this starts failing, Textual #6666 is fixed: drop forget_closed_watchers.
        assert watcher in _watchers_of(app)
        workarounds.forget_closed_watchers(app)
        assert watcher not in _watchers_of(app)
