"""Dashboard behaviour that needs a devserver to misbehave: fixed data stands in for it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import until
from fixed_source import FixedSource

from epdev.tui.app import EpdevApp
from epdev.tui.screens.confirm import ConfirmScreen
from epdev.tui.screens.endpoint import EndpointScreen
from epdev.tui.screens.endpoints import EndpointsScreen
from epdev.tui.screens.traffic import TrafficScreen

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
            pilot, lambda: source.endpoints["fraud-scorer"]["traffic"] == {"blue": 0, "green": 0}
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
