"""The daily actions against a real devserver: restart, scale, describe, from the keys."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from conftest import ENDPOINT, Live, shown_text, until
from test_dashboard_live import open_endpoint, select_row

from epdev.tui.app import EpdevApp
from epdev.tui.screens.confirm import ConfirmScreen
from epdev.tui.screens.describe import DescribeScreen
from epdev.tui.screens.endpoint import EndpointScreen
from epdev.tui.screens.prompt import PromptScreen

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

MakeApp = Callable[..., EpdevApp]


def pids(live: Live, name: str) -> set[int]:
    health = live.api.get_deployment(ENDPOINT, name)["health"]
    return {int(i["pid"]) for i in health["instances"] if i.get("pid")}


async def test_restart_scale_and_describe_a_real_deployment(live: Live, live_app: MakeApp) -> None:
    before = pids(live, "green")
    assert before
    app = live_app()
    try:
        async with app.run_test(size=(140, 40)) as pilot:
            await open_endpoint(pilot)
            await select_row(pilot, "#deployments", "green")
            await pilot.press("r")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("enter")
            # New instances of the same spec took over: other processes serve now.
            await until(
                pilot,
                lambda: (
                    live.api.get_deployment(ENDPOINT, "green")["provisioning_state"] == "Succeeded"
                    and pids(live, "green")
                    and not pids(live, "green") & before
                ),
                timeout=120,
            )
            live.invoke(2, deployment="green")

            await pilot.press("s")
            await until(pilot, lambda: isinstance(app.screen, PromptScreen))
            await pilot.press("ctrl+a", "ctrl+k", "2", "enter")
            await until(
                pilot,
                lambda: live.api.get_deployment(ENDPOINT, "green").get("ready_instances") == 2,
                timeout=120,
            )

            await pilot.press("d")
            screen = await until(
                pilot, lambda: isinstance(app.screen, DescribeScreen) and app.screen
            )
            await until(pilot, lambda: screen.spec_yaml)
            assert "instance_count: 2" in screen.spec_yaml
            shown = shown_text(screen.query_one("#body"))
            assert "green-0" in shown and "green-1" in shown and "Ready" in shown
            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, EndpointScreen))
    finally:
        live.api.update_deployment(ENDPOINT, "green", overrides={"instance_count": 1})
