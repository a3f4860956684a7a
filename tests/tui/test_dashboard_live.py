"""Every dashboard flow, driven with key presses, against a real devserver over HTTPS."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import ENDPOINT, OTHER, SPLIT, Live, until
from textual.pilot import Pilot
from textual.widgets import Log, Select

from epdev.devserver.client import AsyncClient, Connection
from epdev.tui.app import EpdevApp
from epdev.tui.screens.confirm import ConfirmScreen
from epdev.tui.screens.deploy import DeployScreen
from epdev.tui.screens.endpoint import EndpointScreen
from epdev.tui.screens.endpoints import EndpointsScreen
from epdev.tui.screens.invoke import InvokeScreen
from epdev.tui.screens.logs import LogsScreen
from epdev.tui.screens.traffic import TrafficScreen
from epdev.tui.widgets.live_table import LiveTable
from epdev.tui.widgets.plot import Plot
from epdev.tui.widgets.slider import TrafficSlider

pytestmark = [pytest.mark.asyncio, pytest.mark.slow]

SIZE = (140, 40)
MakeApp = Callable[..., EpdevApp]


def rows(app: EpdevApp, table: str) -> list[str]:
    return [str(row.key.value) for row in app.screen.query_one(table, LiveTable).ordered_rows]


def cell(app: EpdevApp, table: str, row: str, column: str) -> str:
    value = app.screen.query_one(table, LiveTable).get_cell(row, column)
    return str(getattr(value, "plain", value))


def text_of(app: EpdevApp, selector: str) -> str:
    return str(app.screen.query_one(selector).render())


async def select_row(pilot: Pilot[Any], table: str, key: str) -> None:
    widget = pilot.app.screen.query_one(table, LiveTable)
    await until(pilot, lambda: key in [r.key.value for r in widget.ordered_rows])
    widget.move_cursor(row=widget.get_row_index(key))
    await pilot.pause()


async def open_endpoint(pilot: Pilot[Any]) -> EndpointScreen:
    await select_row(pilot, "#endpoints", ENDPOINT)
    await pilot.press("enter")
    screen = await until(
        pilot, lambda: isinstance(pilot.app.screen, EndpointScreen) and pilot.app.screen
    )
    await until(pilot, lambda: {"blue", "green"} <= set(rows(pilot.app, "#deployments")))
    return screen  # type: ignore[no-any-return]


async def open_traffic(pilot: Pilot[Any]) -> TrafficScreen:
    await pilot.press("t")
    screen = await until(
        pilot, lambda: isinstance(pilot.app.screen, TrafficScreen) and pilot.app.screen
    )
    return screen  # type: ignore[no-any-return]


async def test_endpoints_view_lists_filters_and_opens(live: Live, live_app: MakeApp) -> None:
    app = live_app()
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: {ENDPOINT, OTHER} <= set(rows(app, "#endpoints")))
        await until(pilot, lambda: cell(app, "#endpoints", ENDPOINT, "state") == "Succeeded")
        assert cell(app, "#endpoints", ENDPOINT, "traffic") == "blue 90 · green 10"
        assert cell(app, "#endpoints", ENDPOINT, "auth") == "key"
        assert cell(app, "#endpoints", ENDPOINT, "cost") == "$0.59/h"  # 2 x Standard_DS3_v2
        assert cell(app, "#endpoints", OTHER, "traffic") == "(no deployments)"

        await pilot.press("slash", *"dash")
        await until(pilot, lambda: rows(app, "#endpoints") == [ENDPOINT])
        assert "/dash" in text_of(app, "#status")
        await pilot.press("escape")
        await until(pilot, lambda: {ENDPOINT, OTHER} <= set(rows(app, "#endpoints")))

        await pilot.press("slash", *"dash", "enter", "enter")
        screen = await until(pilot, lambda: isinstance(app.screen, EndpointScreen) and app.screen)
        assert screen.endpoint_name == ENDPOINT


async def test_endpoint_view_deployments_live_graphs_window_and_copy(
    live: Live, live_app: MakeApp
) -> None:
    app = live_app()
    async with app.run_test(size=SIZE) as pilot:
        screen = await open_endpoint(pilot)
        assert rows(app, "#deployments") == ["blue", "green"]
        assert cell(app, "#deployments", "blue", "runtime") == "process"
        assert cell(app, "#deployments", "blue", "instances") == "1/1"
        assert cell(app, "#deployments", "blue", "state") == "Succeeded"
        assert cell(app, "#deployments", "green", "traffic") == "10%"
        await until(pilot, lambda: cell(app, "#deployments", "blue", "memory").endswith("MiB"))

        live.invoke(10, deployment="blue")
        rps = screen.query_one("#rps", Plot)
        await until(pilot, lambda: any(v for v in rps.series.get("blue", []) if v))
        latency = screen.query_one("#latency", Plot)
        assert any(v for v in latency.series["blue p99"] if v)
        assert "cpu" in screen.query_one("#cpu", Plot).id  # type: ignore[operator]

        await pilot.press("w")
        assert "15m" in text_of(app, "#window")
        await until(pilot, lambda: "15m" in rps.title)

        await pilot.press("c")
        key = live.api.get_credentials(ENDPOINT)["primaryKey"]
        assert app.clipboard == key
        await pilot.press("u")
        assert app.clipboard == live.api.get_endpoint(ENDPOINT)["scoring_uri"]
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen))


async def test_traffic_sliders_rebalance_confirm_and_apply(live: Live, live_app: MakeApp) -> None:
    app = live_app()
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, "#endpoints", ENDPOINT)
        screen = await open_traffic(pilot)
        assert screen.split == SPLIT

        await pilot.press("right")
        assert screen.split == {"blue": 91, "green": 9}
        await pilot.press("shift+left")
        assert screen.split == {"blue": 81, "green": 19}
        await pilot.press("down", "shift+right")
        assert screen.split == {"blue": 71, "green": 29}
        sliders = {s.id: s.value for s in screen.query(TrafficSlider)}
        assert sliders == {"slider-blue": 71, "slider-green": 29, "slider-mirror": 0}
        assert live.split() == SPLIT  # nothing sent before the confirmation

        await pilot.press("enter")
        confirm = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        question = str(confirm.query_one("#question").render())
        assert "90%" in question and "71%" in question and "29%" in question
        await pilot.press("enter")
        await until(pilot, lambda: live.split() == {"blue": 71, "green": 29})
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen))
        await until(
            pilot, lambda: cell(app, "#endpoints", ENDPOINT, "traffic") == "blue 71 · green 29"
        )


async def test_mirror_slider_sends_copies_to_a_deployment_without_live_traffic(
    live: Live, live_app: MakeApp
) -> None:
    app = live_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_endpoint(pilot)
        screen = await open_traffic(pilot)
        await pilot.press("down", "shift+left")  # green 0: blue takes everything
        await pilot.press("down", "shift+right", "right", "right")  # mirror 12% to green
        assert screen.split == {"blue": 100, "green": 0} and screen.mirror == {"green": 12}
        await pilot.press("enter")
        confirm = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert "mirror" in str(confirm.query_one("#question").render())
        await pilot.press("enter")
        await until(
            pilot, lambda: live.api.get_endpoint(ENDPOINT)["mirror_traffic"] == {"green": 12}
        )
        assert live.split() == {"blue": 100}
        await until(pilot, lambda: "(mirror 12%)" in cell(app, "#deployments", "green", "traffic"))

        screen = await open_traffic(pilot)
        await pilot.press("down", "right")  # green takes live traffic: the mirror is now invalid
        assert "cannot apply" in text_of(app, "#total")
        await pilot.press("enter")
        await pilot.pause(0.1)
        assert app.screen is screen  # refused before any confirmation
        await pilot.press("left", "down", "shift+left", "shift+left")  # green 0 again, mirror 0
        assert screen.mirror == {}
        await pilot.press("enter", "enter")
        await until(pilot, lambda: live.api.get_endpoint(ENDPOINT)["mirror_traffic"] == {})


async def test_traffic_escape_discards_and_cancel_keeps_editing(
    live: Live, live_app: MakeApp
) -> None:
    app = live_app()
    async with app.run_test(size=SIZE) as pilot:
        await open_endpoint(pilot)
        screen = await open_traffic(pilot)
        await pilot.press("shift+left", "shift+left", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")  # cancels the confirmation only
        await until(pilot, lambda: app.screen is screen)
        assert screen.split == {"blue": 70, "green": 30}
        await pilot.press("escape")  # discards the edit
        await until(pilot, lambda: isinstance(app.screen, EndpointScreen))
        await pilot.pause(0.3)
        assert live.split() == SPLIT


async def test_logs_follow_pause_resume_filter_and_instance(live: Live, live_app: MakeApp) -> None:
    app = live_app()
    async with app.run_test(size=(140, 24)) as pilot:
        await open_endpoint(pilot)
        await select_row(pilot, "#deployments", "blue")
        await pilot.press("l")
        screen = await until(pilot, lambda: isinstance(app.screen, LogsScreen) and app.screen)
        log = screen.query_one("#log", Log)
        await until(pilot, lambda: log.line_count > 0)
        assert "following" in text_of(app, "#status")

        live.invoke(15, deployment="blue")  # more lines than the pane shows
        await until(pilot, lambda: sum("request received" in ln for ln in log.lines) >= 15)
        await until(pilot, lambda: log.is_vertical_scroll_end and log.max_scroll_y > 0)

        await pilot.press("home")
        await until(pilot, lambda: "paused" in text_of(app, "#status"))
        before = log.line_count
        live.invoke(5, deployment="blue")
        await until(pilot, lambda: log.line_count > before)
        assert log.scroll_y == 0  # the new lines did not pull the view down
        await until(pilot, lambda: "new lines below" in text_of(app, "#status"))

        await pilot.press("end")
        await until(pilot, lambda: "following" in text_of(app, "#status"))
        live.invoke(2, deployment="blue")
        count = log.line_count
        await until(pilot, lambda: log.line_count > count)
        await until(pilot, lambda: log.is_vertical_scroll_end)

        await pilot.press("f", *"Request processed")
        await until(pilot, lambda: "filter: Request processed" in text_of(app, "#status"))
        assert log.line_count > 0
        assert all("Request processed" in line for line in log.lines)
        await pilot.press("enter", "escape")  # back to the log; esc clears the filter first
        await until(pilot, lambda: "filter" not in text_of(app, "#status"))
        assert any("request received" in line for line in log.lines)

        await pilot.press("i")
        await until(pilot, lambda: "blue-0" in text_of(app, "#status"))
        await until(pilot, lambda: log.line_count > 0)
        assert all(" blue-0 " in line for line in log.lines if line)
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, EndpointScreen))


async def test_invoke_shows_status_deployment_latency_and_json(
    live: Live, live_app: MakeApp
) -> None:
    app = live_app()
    async with app.run_test(size=SIZE) as pilot:
        await select_row(pilot, "#endpoints", ENDPOINT)
        await pilot.press("i")
        screen = await until(pilot, lambda: isinstance(app.screen, InvokeScreen) and app.screen)
        await pilot.press(*"sample-request.json", "enter")
        await until(pilot, lambda: "HTTP 200" in text_of(app, "#outcome"))
        outcome = text_of(app, "#outcome")
        assert "answered by blue" in outcome or "answered by green" in outcome
        assert " ms" in outcome
        expected = live.project.expected_predictions(1 if "blue" in outcome else 2)
        shown = screen.response
        assert f"{expected[0]}" in str(getattr(shown, "code", shown))

        screen.query_one("#target", Select).value = "green"
        await pilot.press("ctrl+s")
        await until(pilot, lambda: "answered by green" in text_of(app, "#outcome"))
        assert app.last_request_file == "sample-request.json"

        await pilot.press("escape", "i")
        await until(pilot, lambda: isinstance(app.screen, InvokeScreen))
        await pilot.press("enter")  # the last request file is offered again
        await until(pilot, lambda: "HTTP 200" in text_of(app, "#outcome"))


BROKEN = "instance_cont: 1\n"
FIXED = "instance_count: 1\n"


async def test_deploy_from_spec_shows_errors_then_applies_the_fixed_file(
    live: Live, live_app: MakeApp
) -> None:
    spec = live.project.sample_dir / "red-deployment.yml"
    text = live.project.green_yml.read_text().replace("name: green", "name: red")
    spec.write_text(text.replace("instance_count: 1\n", BROKEN))
    app = live_app()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await until(pilot, lambda: ENDPOINT in rows(app, "#endpoints"))
            await pilot.press("n")
            screen = await until(pilot, lambda: isinstance(app.screen, DeployScreen) and app.screen)
            await pilot.press("shift+tab", *"red-deployment.yml", "enter")
            await until(pilot, lambda: screen.checked is not None)
            verdict = text_of(app, "#verdict")
            line = text.splitlines().index("instance_count: 1") + 1
            assert f"red-deployment.yml:{line}: instance_cont: unknown key" in verdict
            assert "instance_count" in verdict
            await pilot.press("ctrl+s")  # refused: the file has errors
            await pilot.pause(0.2)
            assert "red" not in live.api.get_endpoint(ENDPOINT)["deployments"]

            spec.write_text(text)
            await pilot.press("ctrl+r")
            await until(pilot, lambda: "valid" in text_of(app, "#verdict"))
            assert "create deployment dash-ep/red" in text_of(app, "#verdict")
            await pilot.press("ctrl+s")
            landed = await until(
                pilot,
                lambda: isinstance(app.screen, EndpointScreen) and app.screen,
                timeout=90,
            )
            assert landed.endpoint_name == ENDPOINT
            await until(pilot, lambda: landed.selected() == "red")  # the cursor is on it
            await until(pilot, lambda: "red" in rows(app, "#deployments"))
            await until(pilot, lambda: cell(app, "#deployments", "red", "state") == "Succeeded")
            assert live.api.get_deployment(ENDPOINT, "red")["provisioning_state"] == "Succeeded"
    finally:
        if "red" in live.api.get_endpoint(ENDPOINT)["deployments"]:
            live.api.delete_deployment(ENDPOINT, "red")
        spec.unlink()


async def test_delete_asks_first_and_refuses_a_deployment_with_traffic(
    live: Live, live_app: MakeApp
) -> None:
    spec = live.project.sample_dir / "gone-deployment.yml"
    spec.write_text(live.project.green_yml.read_text().replace("name: green", "name: gone"))
    live.server.apply(spec)
    live.api.create_endpoint({"name": "doomed-ep", "auth_mode": "key"}, None)
    app = live_app()
    try:
        async with app.run_test(size=SIZE) as pilot:
            await open_endpoint(pilot)
            await until(pilot, lambda: "gone" in rows(app, "#deployments"))
            await select_row(pilot, "#deployments", "gone")
            await pilot.press("ctrl+d")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("n")
            await until(pilot, lambda: isinstance(app.screen, EndpointScreen))
            assert "gone" in live.api.get_endpoint(ENDPOINT)["deployments"]

            await pilot.press("ctrl+d")
            await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            await pilot.press("enter")
            await until(pilot, lambda: "gone" not in live.api.get_endpoint(ENDPOINT)["deployments"])
            await until(pilot, lambda: "gone" not in rows(app, "#deployments"))

            await select_row(pilot, "#deployments", "blue")
            await pilot.press("ctrl+d", "enter")
            await until(pilot, lambda: any("traffic" in n.message for n in app._notifications))
            assert "blue" in live.api.get_endpoint(ENDPOINT)["deployments"]

            await pilot.press("escape")
            await until(pilot, lambda: isinstance(app.screen, EndpointsScreen))
            await select_row(pilot, "#endpoints", "doomed-ep")
            await pilot.press("ctrl+d")
            confirm = await until(
                pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen
            )
            assert "doomed-ep" in str(confirm.query_one("#question").render())
            await pilot.press("enter")
            await until(pilot, lambda: "doomed-ep" not in rows(app, "#endpoints"))
            names = {e["name"] for e in live.api.list_endpoints()}
            assert "doomed-ep" not in names and ENDPOINT in names
    finally:
        spec.unlink()
        if "gone" in live.api.get_endpoint(ENDPOINT)["deployments"]:
            live.api.delete_deployment(ENDPOINT, "gone")
        if "doomed-ep" in {e["name"] for e in live.api.list_endpoints()}:
            live.api.delete_endpoint("doomed-ep")


def visible_actions(app: EpdevApp) -> set[str]:
    return {
        active.binding.action
        for active in app.active_bindings.values()
        if active.enabled and active.binding.show
    }


async def test_read_only_hides_and_refuses_every_change(live: Live, live_app: MakeApp) -> None:
    app = live_app(read_only=True)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: ENDPOINT in rows(app, "#endpoints"))
        assert "read-only" in text_of(app, "#status")
        assert not {"traffic", "delete", "deploy"} & visible_actions(app)
        assert "invoke" in visible_actions(app)
        await select_row(pilot, "#endpoints", ENDPOINT)
        for key in ("t", "ctrl+d", "n"):
            await pilot.press(key)
            await pilot.pause(0.1)
            assert isinstance(app.screen, EndpointsScreen), key

        await open_endpoint(pilot)
        assert not {"traffic", "delete", "deploy"} & visible_actions(app)
        for key in ("t", "ctrl+d", "n"):
            await pilot.press(key)
            await pilot.pause(0.1)
            assert isinstance(app.screen, EndpointScreen), key
    assert live.split() == SPLIT


async def test_unreachable_devserver_shows_a_banner_not_a_traceback(live: Live) -> None:
    # A port nothing listens on: the devserver was stopped, or never started.
    dead = Connection("https://127.0.0.1:9", live.connection.admin_token, None)
    app = EpdevApp(AsyncClient(dead), server_url=dead.url, refresh_seconds=0.2)
    async with app.run_test(size=SIZE) as pilot:
        banner = app.screen.query_one("#banner")
        await until(pilot, lambda: banner.display)
        assert "cannot reach the devserver" in str(banner.render())
        await pilot.press("r", "t", "i", "enter", "question_mark", "escape")
        await pilot.pause(0.5)
        assert app.return_code is None  # still running, no crash
