"""The daily actions one key away, on fixed data: scale, restart, describe, key regeneration,
curl, all traffic, a typed share on a slider, j/k, and the `:` command line."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from conftest import shown_text, until
from fixed_source import FixedSource
from textual.pilot import Pilot

from epdev.tui.app import EpdevApp
from epdev.tui.screens.confirm import ConfirmScreen
from epdev.tui.screens.describe import DescribeScreen
from epdev.tui.screens.endpoint import EndpointScreen
from epdev.tui.screens.endpoints import EndpointsScreen
from epdev.tui.screens.prompt import PromptScreen
from epdev.tui.screens.traffic import TrafficScreen
from epdev.tui.widgets.live_table import LiveTable

pytestmark = pytest.mark.asyncio

MakeApp = Callable[..., EpdevApp]


async def open_fraud(pilot: Pilot[Any]) -> EndpointScreen:
    app = pilot.app
    await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
    await pilot.press("j", "enter")  # fraud-scorer (churn, fraud-scorer, sandbox)
    screen: EndpointScreen = await until(
        pilot,
        lambda: isinstance(app.screen, EndpointScreen) and app.screen.deployments and app.screen,
    )
    assert screen.endpoint_name == "fraud-scorer"
    return screen


async def test_s_scales_the_selected_deployment(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_fraud(pilot)
        await pilot.press("j", "s")  # green
        await until(pilot, lambda: isinstance(app.screen, PromptScreen))
        await pilot.press("backspace", "3", "enter")
        await until(pilot, lambda: source.deployments["fraud-scorer"]["green"].instance_count == 3)
        assert (
            "update_deployment",
            ("fraud-scorer", "green", {"instance_count": 3}),
        ) in source.calls


async def test_r_restarts_after_asking_and_the_health_column_counts_it(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source, refresh_seconds=0.1)
    async with app.run_test(size=(160, 30)) as pilot:
        screen = await open_fraud(pilot)
        table = screen.query_one("#deployments", LiveTable)
        assert str(table.get_cell("blue", "health")) == "Healthy"
        await pilot.press("r")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")
        await until(pilot, lambda: ("restart_deployment", ("fraud-scorer", "blue")) in source.calls)
        await until(pilot, lambda: str(table.get_cell("blue", "health")) == "Healthy ↻2")


async def test_d_describes_spec_instances_and_errors(fixed_app: MakeApp) -> None:
    source = FixedSource()
    blue = source.deployments["fraud-scorer"]["blue"]
    crashing = blue.health.instances[1]
    crashing.state, crashing.restarts, crashing.last_error = "CrashLoop", 4, "exit 1"
    app = fixed_app(source)
    async with app.run_test(size=(120, 40)) as pilot:
        await open_fraud(pilot)
        await pilot.press("d")
        screen = await until(pilot, lambda: isinstance(app.screen, DescribeScreen) and app.screen)
        await until(pilot, lambda: screen.spec_yaml)
        shown = shown_text(screen.query_one("#body"))
        assert "instance_count: 2" in screen.spec_yaml and "instance_type" in screen.spec_yaml
        assert "blue-1" in shown and "CrashLoop" in shown and "exit 1" in shown
        assert "Mirror report" in shown
        await pilot.press("escape")
        await until(pilot, lambda: isinstance(app.screen, EndpointScreen))


async def test_K_regenerates_the_key_once_confirmed_and_y_copies_a_curl(
    fixed_app: MakeApp,
) -> None:
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test(size=(120, 30)) as pilot:
        screen = await open_fraud(pilot)
        await until(pilot, lambda: screen.key)
        await pilot.press("K")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("escape")
        assert not any(c[0] == "regenerate_keys" for c in source.calls)
        await pilot.press("K", "enter")
        await until(pilot, lambda: screen.key == "k3y-primary-regenerated")
        await pilot.press("y")
        curl = app.clipboard
        assert curl.startswith("curl --fail-with-body https://127.0.0.1:8443/endpoints/fraud")
        assert "Bearer k3y-primary-regenerated" in curl


async def test_a_sends_all_traffic_to_the_selected_one(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_fraud(pilot)
        await pilot.press("j", "a")
        confirm = await until(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen)
        assert "90%  →    0%" in confirm.question and "10%  →  100%" in confirm.question
        await pilot.press("enter")
        await until(
            pilot, lambda: source.endpoints["fraud-scorer"].traffic == {"blue": 0, "green": 100}
        )


async def test_a_typed_number_sets_a_slider(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_fraud(pilot)
        await pilot.press("t")
        traffic = await until(pilot, lambda: isinstance(app.screen, TrafficScreen) and app.screen)
        await pilot.press("down", "8", "0")  # green to 80
        assert traffic.split == {"blue": 20, "green": 80}
        await pilot.press("up", "a")
        assert traffic.split == {"blue": 100, "green": 0}
        await pilot.press("0")  # a lone 0 is still "all to 0"
        assert traffic.split == {"blue": 0, "green": 0}


async def test_the_command_line_scales_and_splits(fixed_app: MakeApp) -> None:
    source = FixedSource()
    app = fixed_app(source)
    async with app.run_test(size=(120, 30)) as pilot:
        await open_fraud(pilot)
        await pilot.press("colon", *"scale green 3", "enter")
        await until(pilot, lambda: source.deployments["fraud-scorer"]["green"].instance_count == 3)
        await pilot.press("colon", *"traffic blue=80 green=20", "enter")
        await until(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("enter")
        await until(
            pilot, lambda: source.endpoints["fraud-scorer"].traffic == {"blue": 80, "green": 20}
        )


async def test_at_80x24_tables_drop_their_least_needed_columns_and_g_switches_charts(
    fixed_app: MakeApp,
) -> None:
    app = fixed_app()
    async with app.run_test(size=(80, 24)) as pilot:
        await until(pilot, lambda: isinstance(app.screen, EndpointsScreen) and app.screen._loaded)
        table = app.screen.query_one("#endpoints", LiveTable)
        columns = [c.key.value for c in table.ordered_columns]
        assert "cost" not in columns and "auth" not in columns and "name" in columns
        screen = await open_fraud(pilot)
        columns = [c.key.value for c in screen.query_one("#deployments", LiveTable).ordered_columns]
        assert columns == ["name", "traffic", "instances", "state", "health", "cpu", "rps", "p99"]
        shown = [p.id for p in screen.query("Plot") if p.display]
        assert shown == ["latency"]
        await pilot.press("g")
        assert [p.id for p in screen.query("Plot") if p.display] == ["rps"]
        await pilot.resize_terminal(200, 60)
        await until(pilot, lambda: len([p for p in screen.query("Plot") if p.display]) == 4)


async def test_every_chart_has_units_and_a_time_axis(fixed_app: MakeApp) -> None:
    app = fixed_app()
    async with app.run_test(size=(200, 60)) as pilot:
        screen = await open_fraud(pilot)
        plots = list(screen.query("Plot"))
        await until(pilot, lambda: all(p.drawn and p.series for p in plots))  # type: ignore[attr-defined]
        texts = {str(p.id): shown_text(p) for p in plots}
        assert "latency, ms (p50 ━ p99 •)" in texts["latency"]
        assert "requests/s" in texts["rps"] and "errors/s" in texts["errors"]
        assert "CPU, % of a core" in texts["cpu"]
        for text in texts.values():
            axis = next(line for line in text.splitlines() if line.rstrip().endswith("now"))
            assert axis.split() == ["-5m", "-4m", "-3m", "-2m", "-1m", "now"]
            assert "━ blue" in text and "━ green" in text  # the legend, above the plot
