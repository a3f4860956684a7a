"""Snapshots of the main screens, drawn from fixed data at a fixed clock.

Update them after an intended change of the look with `pytest tests/tui --snapshot-update`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from conftest import until
from fixed_source import FixedSource
from textual.pilot import Pilot

from epdev.tui.app import EpdevApp
from epdev.tui.screens.endpoint import EndpointScreen
from epdev.tui.screens.endpoints import EndpointsScreen
from epdev.tui.widgets.endpoint_graphs import EndpointGraphs
from epdev.tui.widgets.plot import Plot

SIZE = (130, 34)
Snap = Callable[..., bool]


async def _loaded(pilot: Pilot[Any]) -> None:
    await until(
        pilot, lambda: isinstance(pilot.app.screen, EndpointsScreen) and pilot.app.screen._loaded
    )


def test_endpoints(snap_compare: Snap, fixed_app: Callable[..., EpdevApp]) -> None:
    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=_loaded)


def test_endpoints_filtered(snap_compare: Snap, fixed_app: Callable[..., EpdevApp]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _loaded(pilot)
        await pilot.press("slash", *"fr")

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=run)


def test_endpoints_read_only(snap_compare: Snap, fixed_app: Callable[..., EpdevApp]) -> None:
    assert snap_compare(fixed_app(read_only=True), terminal_size=SIZE, run_before=_loaded)


def test_unreachable_banner(snap_compare: Snap, fixed_app: Callable[..., EpdevApp]) -> None:
    source = FixedSource()
    source.down = True

    async def run(pilot: Pilot[Any]) -> None:
        await until(pilot, lambda: pilot.app.screen.query_one("#banner").display)

    assert snap_compare(fixed_app(source), terminal_size=SIZE, run_before=run)


async def _open_endpoint(pilot: Pilot[Any]) -> None:
    await _loaded(pilot)
    await pilot.press("down", "enter")
    await until(pilot, lambda: isinstance(pilot.app.screen, EndpointScreen))
    screen = pilot.app.screen
    await until(pilot, lambda: screen.query_one("#latency").series and screen.key)  # type: ignore[attr-defined]
    # The first report may come before the charts have their width; the screen then fetches
    # one at the step they can show, and that one is what the snapshot must hold.
    graphs = screen.query_one(EndpointGraphs)
    await until(pilot, lambda: graphs.shown_step == screen._step())  # type: ignore[attr-defined]
    await until(pilot, lambda: all(plot.drawn for plot in screen.query(Plot) if plot.display))


def test_endpoint_with_graphs(snap_compare: Snap, fixed_app: Callable[..., EpdevApp]) -> None:
    assert snap_compare(fixed_app(), terminal_size=(140, 40), run_before=_open_endpoint)


def test_endpoint_at_80x24(snap_compare: Snap, fixed_app: Callable[..., EpdevApp]) -> None:
    """One chart at a time, the least needed columns left out, the footer's first keys."""
    assert snap_compare(fixed_app(), terminal_size=(80, 24), run_before=_open_endpoint)


def test_endpoint_at_200x60(snap_compare: Snap, fixed_app: Callable[..., EpdevApp]) -> None:
    """Every column and all four charts, each deployment in its colour."""
    assert snap_compare(fixed_app(), terminal_size=(200, 60), run_before=_open_endpoint)


def test_traffic_sliders_and_confirmation(
    snap_compare: Snap, fixed_app: Callable[..., EpdevApp]
) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _loaded(pilot)
        await pilot.press("down", "t", "right", "shift+left", "down", "shift+right", "enter")

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=run)


def test_logs(snap_compare: Snap, fixed_app: Callable[..., EpdevApp]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _open_endpoint(pilot)
        await pilot.press("l")
        await until(pilot, lambda: pilot.app.screen.query_one("#log").line_count > 30)

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=run)


def test_invoke_answer(snap_compare: Snap, fixed_app: Callable[..., EpdevApp]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _loaded(pilot)
        await pilot.press("down", "i", *"request.json", "enter")
        await until(
            pilot, lambda: "HTTP 200" in str(pilot.app.screen.query_one("#outcome").render())
        )

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=run)


def test_deploy_with_errors(snap_compare: Snap, fixed_app: Callable[..., EpdevApp]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _loaded(pilot)
        await pilot.press("n", *"broken-deployment.yml", "enter")  # typed: goes to the path
        await until(pilot, lambda: pilot.app.screen.checked is not None)  # type: ignore[attr-defined]

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=run)


def test_help(snap_compare: Snap, fixed_app: Callable[..., EpdevApp]) -> None:
    async def run(pilot: Pilot[Any]) -> None:
        await _loaded(pilot)
        await pilot.press("question_mark")

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=run)


def test_batch_jobs(snap_compare: Snap, fixed_app: Callable[..., EpdevApp]) -> None:
    from epdev.tui.screens.jobs import JobsScreen

    async def run(pilot: Pilot[Any]) -> None:
        await _loaded(pilot)
        await pilot.press("b")
        await until(
            pilot, lambda: isinstance(pilot.app.screen, JobsScreen) and pilot.app.screen._loaded
        )

    assert snap_compare(fixed_app(), terminal_size=SIZE, run_before=run)
