"""Dashboard behaviour that needs a devserver to misbehave: fixed data stands in for it."""

from __future__ import annotations

import asyncio
import gc
from collections.abc import Callable

import pytest
from conftest import shown_text, until
from fixed_source import FixedSource
from textual.widget import Widget
from textual.widgets import DataTable, Log

from epdev.tui.app import EpdevApp
from epdev.tui.screens.confirm import ConfirmScreen
from epdev.tui.screens.endpoint import EndpointScreen
from epdev.tui.screens.endpoints import EndpointsScreen
from epdev.tui.screens.help import HelpScreen
from epdev.tui.screens.logs import LogLines, LogsScreen
from epdev.tui.screens.traffic import TrafficScreen
from epdev.tui.widgets.plot import Plot

pytestmark = pytest.mark.asyncio

MakeApp = Callable[..., EpdevApp]


async def test_banner_comes_and_goes_with_the_devserver(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source, refresh_seconds=0.1)
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        banner = app.screen.query_one("#banner")
        assert not banner.display
        source.down = True
        await until(pilot, lambda: banner.display)
        assert "retrying" in str(banner.render())
        await pilot.press("down", "enter")  # the last data stays usable meanwhile
        await until(pilot, lambda: isinstance(app.screen, EndpointScreen))
        assert app.screen.query_one("#banner").display
        source.down = False
        await until(pilot, lambda: not app.screen.query_one("#banner").display)
        await pilot.press("escape")
        await until(pilot, lambda: not banner.display)


async def test_an_invalid_split_is_never_sent(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("down", "t")
        screen = await until(pilot, lambda: isinstance(app.screen, TrafficScreen) and app.screen)
        screen.split = {"blue": 60, "green": 30}  # as if a bug had produced it
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.screen is screen  # no confirmation offered
        screen.send({"blue": 60, "green": 30})
        await pilot.pause(0.2)
        assert not [c for c in source.calls if c[0] == "update_endpoint"]


async def test_all_to_zero_is_a_valid_split(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("down", "t", "0", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await until(
            pilot, lambda: source.endpoints["fraud-scorer"].traffic == {"blue": 0, "green": 0}
        )
        assert isinstance(app.screen, EndpointsScreen)


async def test_unchanged_split_is_not_sent(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("down", "t", "right", "left", "enter")
        await pilot.pause(0.1)
        assert isinstance(app.screen, TrafficScreen)
        assert not source.calls


async def test_an_endpoint_deleted_elsewhere_closes_its_view(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source, refresh_seconds=0.1)
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, EndpointScreen))
        del source.endpoints["fraud-scorer"]
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen))
        await until(pilot, lambda: "fraud-scorer" not in app.screen.endpoints)


async def test_end_resumes_following_even_as_lines_arrive(fixed_app: MakeApp) -> None:
    app = fixed_app()
    async with app.run_test(size=(140, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("down", "enter")
        await until(pilot, lambda: isinstance(app.screen, EndpointScreen))
        await pilot.press("l")
        screen = await until(pilot, lambda: isinstance(app.screen, LogsScreen) and app.screen)
        log = screen.query_one("#log", Log)
        status = screen.query_one("#status")
        await until(pilot, lambda: log.line_count == 40 and log.is_vertical_scroll_end)
        await pilot.press("home")
        await until(pilot, lambda: "paused" in str(status.render()))

        # A chatty deployment: a line lands as soon as the view starts to move down.
        app.simulate_key("end")  # pilot.press (and pause) would wait for any scroll to end
        async with asyncio.timeout(5):
            while log.scroll_y == 0:
                await asyncio.sleep(0.01)
        screen.post_message(LogLines(["a line written just after end"], screen._generation))
        await until(pilot, lambda: log.line_count == 41)
        await until(pilot, lambda: "following" in str(status.render()), timeout=5)
        assert log.is_vertical_scroll_end
        screen.post_message(LogLines(["and one more"], screen._generation))
        await until(pilot, lambda: log.line_count == 42 and log.is_vertical_scroll_end, timeout=5)


async def test_views_that_come_and_go_leave_no_widget_behind(fixed_app: MakeApp) -> None:
    """A change of the keys shown rebuilds the footer's keys, and closing the endpoint view
    removes its banner: Textual kept both alive through their watchers (Textual issue #6666),
    which made a long-running dashboard grow by about 0.6 MiB each time."""

    def removed_but_alive() -> dict[int, str]:
        gc.collect()
        return {
            id(o): type(o).__name__
            for o in gc.get_objects()
            if isinstance(o, Widget) and not o.is_attached
        }

    def copy_key_is(off: bool) -> bool:
        return any(
            key.action == "copy_key" and key.has_class("-disabled") == off  # type: ignore[attr-defined]
            for key in app.screen.query("FooterKey")
        )

    source = FixedSource()
    app = fixed_app(source, refresh_seconds=0.1)
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        before = removed_but_alive()  # this worker's earlier tests are not this one's business
        for turn in range(4):
            if turn:
                await pilot.press("escape")
                await until(pilot, lambda: isinstance(app.screen, EndpointsScreen))
            # fraud-scorer each time (batch endpoints follow the online ones in the table)
            app.screen.query_one("#endpoints", DataTable).move_cursor(row=1)
            await pilot.press("enter")
            await until(pilot, lambda: isinstance(app.screen, EndpointScreen))
            await pilot.press("question_mark")
            await until(pilot, lambda: not isinstance(app.screen, EndpointScreen))
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, EndpointScreen))
        for off in (True, False, True, False):  # the key-copy key turns off and on: new keys
            for view in source.endpoints.values():
                view.auth_mode = "aml_token" if off else "key"
            await until(pilot, lambda: copy_key_is(off))  # noqa: B023 (awaited at once)
        left: list[str] = []
        for _ in range(100):  # the views closed last can take a moment to be taken down
            await pilot.pause(0.1)
            left = sorted(name for key, name in removed_but_alive().items() if key not in before)
            if not left:
                break
        assert left == []


async def test_the_footer_is_rebuilt_only_when_its_keys_change(fixed_app: MakeApp) -> None:
    """Textual rebuilds a footer's keys each time a screen comes back, even with the same keys:
    throwaway widgets and style nodes that brought full garbage collections every half minute
    while help was opened and closed over the live graphs."""
    source = FixedSource()
    app = fixed_app(source, refresh_seconds=0.1)
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EndpointScreen))
        screen = app.screen

        def keys() -> dict[str, Widget]:
            return {key.action: key for key in screen.query("FooterKey")}  # type: ignore[attr-defined]

        await until(pilot, lambda: "copy_key" in keys())
        before = keys()
        for _ in range(2):
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen))
            await pilot.press("question_mark")
            await until(pilot, lambda: app.screen is screen)
            await pilot.pause(0.2)
            assert keys() == before  # the very same widgets

        assert isinstance(screen, EndpointScreen)
        name = screen.endpoint_name
        source.endpoints[name].auth_mode = "aml_token"  # the key-copy key turns off
        await until(pilot, lambda: keys().get("copy_key") not in (None, before["copy_key"]))
        assert keys()["copy_key"].has_class("-disabled")


async def test_help_is_one_screen_that_lists_the_keys_of_the_view_beneath(
    fixed_app: MakeApp,
) -> None:
    """A new help screen at each `?` was cyclic garbage once closed: most of what full
    collections had to free while help came and went over the live graphs."""
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("question_mark")
        help_screen = await until(pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen)
        keys = help_screen.query_one("#keys")
        await until(pilot, lambda: "Filter" in shown_text(keys))
        assert "Copy key" not in shown_text(keys)
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen))
        await pilot.press("enter")
        await until(pilot, lambda: isinstance(app.screen, EndpointScreen))
        for _ in range(2):
            await pilot.press("question_mark")
            await until(pilot, lambda: isinstance(app.screen, HelpScreen))
            assert app.screen is help_screen
            assert help_screen.query_one("#keys") is keys  # the very same widgets
            await until(pilot, lambda: "Copy key" in shown_text(keys))
            assert "Filter" not in shown_text(keys)
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, EndpointScreen))


async def test_the_window_asked_for_last_is_the_one_graphed(fixed_app: MakeApp) -> None:
    """`w` pressed while graphs are still loading: the load for the window left behind is
    replaced, not waited for, and what it brings is not shown under the new window's label."""
    source = FixedSource()
    app = fixed_app(source, refresh_seconds=60)  # no periodic refresh to mend things later
    async with app.run_test() as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        await pilot.press("enter")
        screen = await until(pilot, lambda: isinstance(app.screen, EndpointScreen) and app.screen)
        latency = screen.query_one("#latency", Plot)
        await until(pilot, lambda: latency.title.endswith("last 5m"))
        source.metrics_gate = gate = asyncio.Event()
        await pilot.press("w")  # 15m, whose metrics are slow to come
        await pilot.pause(0.2)
        await pilot.press("w")  # 1h, before they came
        await pilot.pause(0.2)
        gate.set()
        await until(pilot, lambda: latency.title.endswith("last 1h"), timeout=10)
        await pilot.pause(0.3)
        assert latency.title.endswith("last 1h")
        assert "1h" in shown_text(screen.query_one("#window"))
